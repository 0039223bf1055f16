/**
 * Admission to the write pipeline (docs/decisions/092-write-pipeline.md, "Backpressure"):
 *
 * - low (log lines, events): past the high-water mark → 429 with retry-after at once;
 * - high (metadata): past the slow mark the request waits for the drain (re-checked at each depth read)
 *   up to `highMaxWaitMs`; past the high-water mark, or still past the slow mark after waiting → 429;
 * - critical writes never come here.
 *
 * Depths are the last read of QueueDepths (every few hundred ms), so a burst can overshoot a mark by
 * what arrives between two reads; the marks are far below what Redis can hold.
 */
import type { BufferedClass } from "@runfeed/core";
import type { QueueDepths } from "./queueDepths.server";

export type Admission = { kind: "admitted" } | { kind: "refused"; urgency: BufferedClass; retryAfterSeconds: number };

export interface BackpressureOptions {
  depths: Pick<QueueDepths, "depthOf" | "nextRead">;
  lowHighWater: number;
  highSlowWater: number;
  highHighWater: number;
  highMaxWaitMs: number;
  now?: () => number;
}

export class Backpressure {
  constructor(private readonly options: BackpressureOptions) {}

  /** Resolves when the write may be appended (high writes may wait first), or with the refusal. */
  async admit(urgency: BufferedClass): Promise<Admission> {
    const { depths } = this.options;
    if (urgency === "low") {
      if (depths.depthOf("low") > this.options.lowHighWater) return { kind: "refused", urgency, retryAfterSeconds: 2 };
      return { kind: "admitted" };
    }
    const now = this.options.now ?? Date.now;
    const deadline = now() + this.options.highMaxWaitMs;
    while (depths.depthOf("high") > this.options.highSlowWater) {
      if (depths.depthOf("high") > this.options.highHighWater || now() >= deadline) {
        return { kind: "refused", urgency, retryAfterSeconds: 1 };
      }
      await depths.nextRead();
    }
    return { kind: "admitted" };
  }
}
