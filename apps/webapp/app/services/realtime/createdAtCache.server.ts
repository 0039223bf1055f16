/**
 * The tag feed's createdAt floor, cached per shape handle (realtime-contract §3.3, checklist #26).
 *
 * The first request of a shape computes the floor; once the upstream answers, the floor is stored
 * under the response's `electric-handle`. Every later request carrying that handle, on any webapp
 * instance, reads it back and rebuilds the byte-identical where clause and params. A miss means no
 * floor clause: the shape no longer matches the handle, upstream answers 409 must-refetch and the
 * client starts over (a new floor, a new handle).
 *
 * Two tiers with @unkey/cache: a bounded MemoryStore, then Redis through a small ioredis Store.
 */
import { CacheError, DefaultStatefulContext, Namespace, createCache, type Cache } from "@unkey/cache";
import { MemoryStore, type Entry, type Store } from "@unkey/cache/stores";
import type { Redis } from "ioredis";

export const CREATED_AT_NAMESPACE = "createdAtFilter";

/** A @unkey/cache Store over an ioredis client; entries expire at their `staleUntil`. */
export class IORedisStore<TNamespace extends string, TValue> implements Store<TNamespace, TValue> {
  readonly name = "redis";
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  #key(namespace: TNamespace, key: string) {
    return `${this.prefix}${namespace}:${key}`;
  }

  async get(namespace: TNamespace, key: string) {
    try {
      const raw = await this.redis.get(this.#key(namespace, key));
      return { val: raw === null ? undefined : (JSON.parse(raw) as Entry<TValue>) };
    } catch (error) {
      return { err: this.#error(key, error) };
    }
  }

  async set(namespace: TNamespace, key: string, entry: Entry<TValue>) {
    try {
      const ttl = Math.max(1, Math.ceil(entry.staleUntil - Date.now()));
      await this.redis.set(this.#key(namespace, key), JSON.stringify(entry), "PX", ttl);
      return { val: undefined as void };
    } catch (error) {
      return { err: this.#error(key, error) };
    }
  }

  async remove(namespace: TNamespace, keys: string | string[]) {
    try {
      const list = (Array.isArray(keys) ? keys : [keys]).map((k) => this.#key(namespace, k));
      if (list.length > 0) await this.redis.del(...list);
      return { val: undefined as void };
    } catch (error) {
      return { err: this.#error(String(keys), error) };
    }
  }

  #error(key: string, error: unknown) {
    return new CacheError({ tier: this.name, key, message: error instanceof Error ? error.message : String(error) });
  }
}

export interface CreatedAtCacheOptions {
  redis: Redis;
  /** REDIS_KEY_PREFIX; keys are `<prefix>cache:realtime:createdAtFilter:<handle>`. */
  keyPrefix: string;
  freshMs: number;
  staleMs: number;
  memoryMaxItems?: number;
}

/** Floors as ISO strings, keyed by shape handle. Errors read as misses (→ 409 → refetch). */
export class CreatedAtCache {
  readonly #cache: Cache<{ createdAtFilter: string }>;

  constructor(options: CreatedAtCacheOptions) {
    const ctx = new DefaultStatefulContext();
    const memory = new MemoryStore<string, string>({
      persistentMap: new Map(),
      unstableEvictOnSet: { frequency: 0.1, maxItems: options.memoryMaxItems ?? 1000 },
    });
    const redis = new IORedisStore<string, string>(options.redis, `${options.keyPrefix}cache:realtime:`);
    this.#cache = createCache({
      createdAtFilter: new Namespace<string>(ctx, {
        stores: [memory, redis],
        fresh: options.freshMs,
        stale: options.staleMs,
      }),
    });
  }

  async get(handle: string): Promise<Date | undefined> {
    const result = await this.#cache.createdAtFilter.get(handle);
    if (result.err || result.val === undefined) return undefined;
    const date = new Date(result.val);
    return Number.isNaN(date.getTime()) ? undefined : date;
  }

  /** Resolves once both tiers hold the value; a failure is returned, not thrown. */
  async set(handle: string, floor: Date): Promise<Error | undefined> {
    const result = await this.#cache.createdAtFilter.set(handle, floor.toISOString());
    return result.err;
  }
}
