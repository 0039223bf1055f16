/**
 * Critical writes first (docs/decisions/092-write-pipeline.md, "Critical writes first"): this
 * process's admission of buffered requests (metadata and log batches), before their body is parsed
 * or validated, so that critical writes (triggers, cancels, the direct metadata PUT) keep their rate
 * while the buffer is saturated. The webapp's event loop is the resource they share: a buffered batch
 * of a thousand log lines costs milliseconds of parsing and validation, and a trigger queued behind a
 * few dozen of them waits a second.
 *
 * - Quiet (no critical write in flight or ended within `quietMs`): up to `concurrency` buffered
 *   requests at once.
 * - Critical writes flowing: one buffered request at a time, and after one that took d ms the next
 *   waits d × (1 − share) / share (at most maxWaitMs), so buffered requests take at most about
 *   `share` of the process's time.
 * - Among waiting buffered requests, high (metadata) goes before low (log lines): a slot that frees
 *   goes to the oldest high request, and to a low one only when no high one waits.
 * - A buffered request that waited `maxWaitMs` is refused (429 with retry-after); waiting costs
 *   nothing (its body is not parsed).
 *
 * The drain follows the same signal across processes (criticalActivity in writePipelineServices):
 * with critical writes flowing it applies at most one batch per interval.
 */
import type { BufferedClass } from "@runfeed/core";

export interface CriticalFirstOptions {
  /** Buffered requests handled at once while no critical write flows. */
  concurrency: number;
  /** While critical writes flow: the largest share of this process's time buffered requests take (0–1]. */
  share: number;
  /** How long after the last critical write the process still counts as serving critical writes. */
  quietMs: number;
  /** Longest a buffered request waits for its turn before it is refused. */
  maxWaitMs: number;
  now?: () => number;
}

interface Waiter {
  urgency: BufferedClass;
  admit: (release: (() => void) | undefined) => void;
  timer: ReturnType<typeof setTimeout>;
}

export class CriticalFirst {
  #criticalInFlight = 0;
  #lastCriticalEnd = Number.NEGATIVE_INFINITY;
  #bufferedInFlight = 0;
  #nextBufferedAt = 0;
  #waiters: Waiter[] = [];
  #wake: ReturnType<typeof setTimeout> | undefined;
  readonly #now: () => number;

  constructor(private readonly options: CriticalFirstOptions) {
    this.#now = options.now ?? performance.now.bind(performance);
  }

  /** Whether critical writes flow now (in flight, or ended within quietMs). */
  get criticalActive(): boolean {
    return this.#criticalInFlight > 0 || this.#now() - this.#lastCriticalEnd < this.options.quietMs;
  }

  /** Marks a critical write in progress; call the returned function when it is answered. */
  critical(): () => void {
    this.#criticalInFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#criticalInFlight--;
      this.#lastCriticalEnd = this.#now();
      this.#pump();
    };
  }

  /**
   * Resolves with a release function once the buffered request may proceed, or with undefined when it
   * waited maxWaitMs (refuse it).
   */
  buffered(urgency: BufferedClass): Promise<(() => void) | undefined> {
    if (this.#waiters.length === 0 && this.#mayStart()) return Promise.resolve(this.#start());
    return new Promise((resolve) => {
      const waiter: Waiter = {
        urgency,
        admit: resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(undefined);
        }, this.options.maxWaitMs),
      };
      // High before low; first come, first served within a class.
      const firstLow = urgency === "high" ? this.#waiters.findIndex((w) => w.urgency === "low") : -1;
      if (firstLow === -1) this.#waiters.push(waiter);
      else this.#waiters.splice(firstLow, 0, waiter);
      this.#schedule();
    });
  }

  /** Buffered requests waiting for their turn. */
  get waiting(): number {
    return this.#waiters.length;
  }

  #mayStart(): boolean {
    if (!this.criticalActive) return this.#bufferedInFlight < this.options.concurrency;
    return this.#bufferedInFlight === 0 && this.#now() >= this.#nextBufferedAt;
  }

  #start(): () => void {
    this.#bufferedInFlight++;
    const started = this.#now();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.#bufferedInFlight--;
      const now = this.#now();
      const { share } = this.options;
      // Wall time stands for the request's cost (it over-counts: other requests run during its awaits);
      // the pause is capped at maxWaitMs, so one slow request (waiting for the drain) cannot shut out the rest.
      const pause = Math.min(((now - started) * (1 - share)) / share, this.options.maxWaitMs);
      this.#nextBufferedAt = this.criticalActive ? now + pause : 0;
      this.#pump();
    };
  }

  #pump() {
    while (this.#waiters.length > 0 && this.#mayStart()) {
      const waiter = this.#waiters.shift()!;
      clearTimeout(waiter.timer);
      waiter.admit(this.#start());
    }
    this.#schedule();
  }

  /** Wakes up when waiters could start by time alone: the spacing ends or critical writes go quiet. */
  #schedule() {
    if (this.#wake !== undefined || this.#waiters.length === 0) return;
    const now = this.#now();
    // Critical writes in flight end by a call (which pumps); once quiet, only a buffered end can help.
    const quietAt =
      this.#criticalInFlight > 0 || !this.criticalActive
        ? Number.POSITIVE_INFINITY
        : this.#lastCriticalEnd + this.options.quietMs;
    // A buffered request in flight pumps when it ends; else the spacing's end lets the next start.
    const spacedAt = this.#bufferedInFlight > 0 ? Number.POSITIVE_INFINITY : Math.max(this.#nextBufferedAt, now);
    const at = Math.min(spacedAt, quietAt);
    if (!Number.isFinite(at)) return;
    this.#wake = setTimeout(
      () => {
        this.#wake = undefined;
        this.#pump();
      },
      Math.max(1, Math.ceil(at - now)),
    );
    this.#wake.unref?.();
  }
}
