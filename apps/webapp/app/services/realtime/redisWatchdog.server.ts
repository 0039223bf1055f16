/**
 * A hung Redis must not hold live requests hostage (docs/decisions/050-realtime-concurrency-limiter.md):
 * calls are counted in flight, and when some are pending and nothing has answered for `timeoutMs`, the
 * connection is dropped, which fails every pending call (→ the caller's Redis-down policy) and
 * reconnects. Costs a counter per call, not a timer per call: the limiter sits on every live poll
 * (bench/realtime). Give it a connection of its own (createRealtimeServices does).
 */
import type { Redis } from "ioredis";

export class LimiterRedisError extends Error {
  override name = "LimiterRedisError";
}

export class RedisWatchdog {
  readonly #redis: Redis;
  readonly #timeoutMs: number;
  readonly #onHung: (error: LimiterRedisError) => void;
  #timer: NodeJS.Timeout | undefined;
  #inFlight = 0;
  #lastProgress = 0;

  constructor(options: { redis: Redis; timeoutMs: number; onHung: (error: LimiterRedisError) => void }) {
    this.#redis = options.redis;
    this.#timeoutMs = options.timeoutMs;
    this.#onHung = options.onHung;
  }

  async call<T>(promise: Promise<T>): Promise<T> {
    if (this.#inFlight++ === 0) {
      this.#lastProgress = Date.now();
      if (!this.#timer) {
        this.#timer = setInterval(() => this.#check(), Math.max(10, Math.floor(this.#timeoutMs / 4)));
        this.#timer.unref();
      }
    }
    try {
      return await promise;
    } finally {
      this.#inFlight--;
      this.#lastProgress = Date.now();
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #check() {
    if (this.#inFlight === 0) return this.stop();
    if (Date.now() - this.#lastProgress > this.#timeoutMs) {
      this.#lastProgress = Date.now();
      this.#onHung(new LimiterRedisError(`Redis did not answer for ${this.#timeoutMs} ms; reconnecting`));
      this.#redis.disconnect(true);
    }
  }
}
