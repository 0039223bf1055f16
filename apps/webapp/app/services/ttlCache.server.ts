/**
 * In-process cache of API-key lookups (docs/decisions/070-write-path-throughput.md).
 *
 * Every write-API request authenticates; without a cache that is one Prisma query (environment +
 * project + parent environment) per request, the largest single cost of a metadata write after the
 * write itself. Found keys are kept for `ttlMs` (default 5 s), bounded to `maxEntries` (least recently
 * used evicted first). Concurrent misses for the same key share one lookup. Misses are never cached,
 * so a key created a moment ago works at once.
 *
 * Staleness, by design and bounded by the TTL: a rolled root key, a revoked additional key, an
 * archived environment or a deleted project is still accepted by an instance that looked it up less
 * than `ttlMs` ago (expiry of additional keys is checked on every request). `clear()` drops everything
 * at once, for in-process invalidation.
 */

export interface TtlCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

export const AUTH_CACHE_DEFAULTS: TtlCacheOptions = { ttlMs: 5_000, maxEntries: 1_000 };

interface Slot<V> {
  value: Promise<V>;
  expiresAt: number;
}

/** A Map-backed LRU of promises with a fixed time-to-live. */
export class TtlCache<V> {
  readonly #slots = new Map<string, Slot<V>>();
  readonly #now: () => number;

  constructor(private readonly options: TtlCacheOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** The cached value, else `load()`'s; a null/undefined result or a rejection is not kept. */
  get(key: string, load: () => Promise<V>): Promise<V> {
    const now = this.#now();
    const slot = this.#slots.get(key);
    if (slot) {
      this.#slots.delete(key);
      if (slot.expiresAt > now) {
        this.#slots.set(key, slot); // most recently used goes last
        return slot.value;
      }
    }
    const value = load();
    const fresh = { value, expiresAt: now + this.options.ttlMs };
    this.#slots.set(key, fresh);
    const forget = () => {
      if (this.#slots.get(key) === fresh) this.#slots.delete(key);
    };
    value.then((v) => (v === null || v === undefined ? forget() : undefined), forget);
    if (this.#slots.size > this.options.maxEntries) this.#slots.delete(this.#slots.keys().next().value!);
    return value;
  }

  clear() {
    this.#slots.clear();
  }

  get size() {
    return this.#slots.size;
  }
}

/** One cache per owner (a Prisma client), so separate app instances (tests) never share entries. */
export function cacheFor<O extends object, V>(caches: WeakMap<O, TtlCache<V>>, owner: O, options = AUTH_CACHE_DEFAULTS) {
  let cache = caches.get(owner);
  if (!cache) {
    cache = new TtlCache<V>(options);
    caches.set(owner, cache);
  }
  return cache;
}
