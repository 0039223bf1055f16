/**
 * Small in-process caches of the write path (docs/decisions/070-write-path-throughput.md): a
 * Map-backed LRU with a fixed time-to-live. Each is a field of an object that Services holds, so
 * separate app instances (tests) never share entries. Users: auth.server.ts (secret-key lookups, 5 s),
 * metadata.server.ts (run references and last written metadata versions), feedLookups.server.ts.
 */

export interface TtlCacheOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

interface Slot<V> {
  value: V;
  expiresAt: number;
}

export class TtlCache<V> {
  readonly #slots = new Map<string, Slot<V>>();
  readonly #now: () => number;

  constructor(private readonly options: TtlCacheOptions) {
    this.#now = options.now ?? Date.now;
  }

  /** The live value under `key` (now most recently used), else undefined. */
  peek(key: string): V | undefined {
    const slot = this.#slots.get(key);
    if (!slot) return undefined;
    this.#slots.delete(key);
    if (slot.expiresAt <= this.#now()) return undefined;
    this.#slots.set(key, slot);
    return slot.value;
  }

  set(key: string, value: V): void {
    this.#slots.delete(key);
    this.#slots.set(key, { value, expiresAt: this.#now() + this.options.ttlMs });
    if (this.#slots.size > this.options.maxEntries) this.#slots.delete(this.#slots.keys().next().value!);
  }

  /** Deletes `key`, only if it still holds `value` when given. */
  delete(key: string, value?: V): void {
    if (value === undefined || this.#slots.get(key)?.value === value) this.#slots.delete(key);
  }

  clear(): void {
    this.#slots.clear();
  }

  get size(): number {
    return this.#slots.size;
  }
}

/**
 * Promise-valued cache: the cached lookup, else `load()`'s, shared by concurrent callers. A
 * null/undefined result or a rejection is dropped at once, so misses are never cached.
 */
export function cachedLookup<T>(cache: TtlCache<Promise<T>>, key: string, load: () => Promise<T>): Promise<T> {
  const hit = cache.peek(key);
  if (hit) return hit;
  const value = load();
  cache.set(key, value);
  const forget = () => cache.delete(key, value);
  value.then((v) => (v === null || v === undefined ? forget() : undefined), forget);
  return value;
}
