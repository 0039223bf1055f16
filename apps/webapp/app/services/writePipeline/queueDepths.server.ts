/**
 * How long the write pipeline's streams are, read from Redis every `intervalMs` by each instance
 * (one pipelined round trip for all streams): the input of backpressure and of the depth and
 * oldest-entry-age gauges. Between two reads the last one stands.
 */
import type { Redis } from "ioredis";
import type { BufferedClass } from "@runfeed/core";
import { streamIdTime, type StreamName } from "./streamNames.server";

export interface StreamDepth {
  stream: StreamName;
  /** Entries not yet applied (acknowledged entries are trimmed). */
  depth: number;
  /** Age of the oldest entry in ms; 0 when empty. */
  oldestAgeMs: number;
}

export interface QueueDepthsOptions {
  redis: Redis;
  streams: StreamName[];
  intervalMs: number;
  onRead?: (depths: StreamDepth[]) => void;
  onError?: (error: unknown) => void;
}

export class QueueDepths {
  #latest: StreamDepth[] = [];
  #timer: NodeJS.Timeout | undefined;
  #waiters: Array<() => void> = [];
  #stopped = false;

  constructor(private readonly options: QueueDepthsOptions) {}

  start() {
    if (this.#timer) return;
    this.#stopped = false;
    const tick = async () => {
      try {
        await this.read();
      } catch (error) {
        this.options.onError?.(error);
      }
      if (this.#timer) this.#timer = setTimeout(tick, this.options.intervalMs);
    };
    this.#timer = setTimeout(tick, 0);
  }

  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Reads every stream's length and first entry now. */
  async read(): Promise<StreamDepth[]> {
    const pipeline = this.options.redis.pipeline();
    for (const stream of this.options.streams) {
      pipeline.xlen(stream.key);
      pipeline.xrange(stream.key, "-", "+", "COUNT", 1);
    }
    const results = (await pipeline.exec()) ?? [];
    const now = Date.now();
    this.#latest = this.options.streams.map((stream, i) => {
      const [lenError, len] = results[2 * i] ?? [];
      const [rangeError, range] = results[2 * i + 1] ?? [];
      if (lenError || rangeError) throw lenError ?? rangeError;
      const first = (range as Array<[string, string[]]>)[0];
      return {
        stream,
        depth: Number(len),
        oldestAgeMs: first ? Math.max(0, now - streamIdTime(first[0])) : 0,
      };
    });
    this.options.onRead?.(this.#latest);
    for (const wake of this.#waiters.splice(0)) wake();
    return this.#latest;
  }

  get latest(): readonly StreamDepth[] {
    return this.#latest;
  }

  /** Queued entries of one class, over all its partitions (as of the last read). */
  depthOf(urgency: BufferedClass): number {
    let total = 0;
    for (const d of this.#latest) if (d.stream.urgency === urgency) total += d.depth;
    return total;
  }

  /** Resolves at the next read (or stop). */
  nextRead(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
