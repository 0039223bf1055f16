/**
 * The limiter's releases (docs/decisions/050-realtime-concurrency-limiter.md): members of one key
 * released in the same event-loop turn go out as one ZREM. Never awaited on a response path; a failed
 * ZREM is reported and its entries are swept within the TTL (they are no longer refreshed).
 */
import type { Redis } from "ioredis";

interface ReleaseBatch {
  members: string[];
  resolvers: Array<() => void>;
}

export class LimiterReleases {
  readonly #batches = new Map<string, ReleaseBatch>();

  constructor(
    private readonly redis: Redis,
    private readonly call: <T>(promise: Promise<T>) => Promise<T>,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Queues a ZREM of `member`; resolves once it was sent and answered (or failed). */
  release(key: string, member: string): Promise<void> {
    return new Promise<void>((resolve) => {
      let batch = this.#batches.get(key);
      if (!batch) {
        batch = { members: [], resolvers: [] };
        this.#batches.set(key, batch);
        const pending = batch;
        setImmediate(() => void this.#flush(key, pending));
      }
      batch.members.push(member);
      batch.resolvers.push(resolve);
    });
  }

  async #flush(key: string, batch: ReleaseBatch) {
    if (this.#batches.get(key) === batch) this.#batches.delete(key);
    try {
      await this.call(this.redis.zrem(key, ...batch.members));
    } catch (error) {
      this.onError(error);
    }
    for (const resolve of batch.resolvers) resolve();
  }
}
