/**
 * Admission to the write pipeline (docs/decisions/092-write-pipeline.md, "Backpressure"):
 *
 * - low (log lines, events): past the high-water mark → 429 with retry-after at once;
 * - high (metadata): past the slow mark the request waits for the drain (re-checked at each depth read)
 *   up to `highMaxWaitMs`; past the high-water mark, or still past the slow mark after waiting → 429;
 * - critical writes never come here.
 *
 * retry-after is how long the drain needs to bring the class back under the mark it is past: the
 * entries over the mark ÷ the entries all drains applied in the last second (QueueDepths), at least
 * 1 s and at most MAX_RETRY_AFTER_S (also when nothing was applied: a drain may be down).
 *
 * Depths are the last read of QueueDepths (every few hundred ms), so a burst can overshoot a mark by
 * what arrives between two reads; the marks are far below what Redis can hold.
 */
import type { BufferedClass } from "@runfeed/core";
import type { QueueDepths } from "./queueDepths.server";

export type Admission = { kind: "admitted" } | { kind: "refused"; urgency: BufferedClass; retryAfterSeconds: number };

export interface BackpressureOptions {
  depths: Pick<QueueDepths, "depthOf" | "nextRead" | "drainRateOf">;
  lowHighWater: number;
  highSlowWater: number;
  highHighWater: number;
  highMaxWaitMs: number;
  now?: () => number;
}

export const MAX_RETRY_AFTER_S = 30;

export class Backpressure {
  constructor(private readonly options: BackpressureOptions) {}

  /** Resolves when the write may be appended (high writes may wait first), or with the refusal. */
  async admit(urgency: BufferedClass): Promise<Admission> {
    const { depths } = this.options;
    if (urgency === "low") {
      if (depths.depthOf("low") > this.options.lowHighWater)
        return { kind: "refused", urgency, retryAfterSeconds: this.retryAfter(urgency, this.options.lowHighWater) };
      return { kind: "admitted" };
    }
    const now = this.options.now ?? Date.now;
    const deadline = now() + this.options.highMaxWaitMs;
    while (depths.depthOf("high") > this.options.highSlowWater) {
      if (depths.depthOf("high") > this.options.highHighWater || now() >= deadline) {
        return { kind: "refused", urgency, retryAfterSeconds: this.retryAfter(urgency, this.options.highSlowWater) };
      }
      await depths.nextRead();
    }
    return { kind: "admitted" };
  }

  /** Seconds until the drain has brought the class back to `mark`, at its last rate. */
  retryAfter(urgency: BufferedClass, mark: number): number {
    const excess = this.options.depths.depthOf(urgency) - mark;
    const rate = this.options.depths.drainRateOf(urgency);
    if (rate <= 0) return MAX_RETRY_AFTER_S;
    return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(excess / rate)));
  }
}
