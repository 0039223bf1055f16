/**
 * Tells readers waiting for a stream that does not exist yet when its run finishes (then the stream
 * never will). One query per interval for all the runs watched on this instance, instead of one per
 * reader: a thousand readers opened before their writers would otherwise poll Postgres a thousand
 * times per interval.
 */
import type { PrismaClient } from "@runfeed/database";
import type { Logger } from "../../logger.server";

export class RunFinishWatcher {
  readonly #prisma: PrismaClient;
  readonly #logger: Logger;
  readonly #intervalMs: number;
  readonly #watchers = new Map<string, Set<() => void>>();
  #timer: NodeJS.Timeout | undefined;
  #checking = false;

  constructor(options: { prisma: PrismaClient; logger: Logger; intervalMs: number }) {
    this.#prisma = options.prisma;
    this.#logger = options.logger;
    this.#intervalMs = options.intervalMs;
  }

  /** Calls `onFinished` once, when the run (internal id) has finished or is gone; returns a canceller. */
  watch(runId: string, onFinished: () => void): () => void {
    let set = this.#watchers.get(runId);
    if (!set) this.#watchers.set(runId, (set = new Set()));
    set.add(onFinished);
    if (!this.#timer) {
      this.#timer = setInterval(() => void this.#check(), this.#intervalMs);
      this.#timer.unref();
    }
    return () => {
      set.delete(onFinished);
      if (set.size === 0 && this.#watchers.get(runId) === set) this.#watchers.delete(runId);
      if (this.#watchers.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  async #check() {
    if (this.#checking || this.#watchers.size === 0) return;
    this.#checking = true;
    try {
      const ids = [...this.#watchers.keys()];
      const running = await this.#prisma.$queryRaw<Array<{ id: string }>>`
        SELECT id FROM "TaskRun" WHERE id = ANY(${ids}) AND "completedAt" IS NULL`;
      const stillRunning = new Set(running.map((r) => r.id));
      for (const id of ids) {
        if (stillRunning.has(id)) continue;
        const callbacks = this.#watchers.get(id);
        this.#watchers.delete(id);
        for (const callback of callbacks ?? []) callback();
      }
    } catch (error) {
      this.#logger.warn({ err: (error as Error).message }, "could not check which runs finished; retrying");
    } finally {
      this.#checking = false;
    }
  }
}
