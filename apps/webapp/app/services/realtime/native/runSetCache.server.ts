/**
 * One resolution (resolve + hydrate) shared by every native feed with the same filter
 * (docs/decisions/073-realtime-notifier-backend.md).
 *
 * A resolution is current while its signal channel has not moved since it started (runSignals'
 * generations): any number of requests then share it, whenever they arrive. Once a signal says it
 * is out of date, the next one starts at once if the last started at least `ttlMs` ago, else when
 * `ttlMs` has passed since — shared by everyone who asks meanwhile. A hot filter updated 100 times a
 * second therefore costs one query per `ttlMs`, however many requests wait on it. With `ttlMs` 0
 * (single runs) only requests woken by the same signal share.
 */

export interface RunSetCacheOptions {
  ttlMs: number;
  maxEntries: number;
  /** The channel's current generation; undefined while it is not subscribed. */
  generation: (channel: string) => number | undefined;
}

interface Entry<T> {
  promise: Promise<T>;
  startedAt: number;
  generation: number | undefined;
  /** The resolution after this one, when it had to wait for `ttlMs` to pass. */
  next?: Promise<T>;
}

export class RunSetCache<T> {
  readonly #options: RunSetCacheOptions;
  readonly #entries = new Map<string, Entry<T>>();
  /** Resolutions started (each one query). */
  loads = 0;

  constructor(options: RunSetCacheOptions) {
    this.#options = options;
  }

  get(key: string, channel: string, load: () => Promise<T>): Promise<T> {
    const entry = this.#entries.get(key);
    if (!entry) return this.#start(key, channel, load);
    const generation = this.#options.generation(channel);
    if (generation !== undefined && entry.generation === generation) return entry.promise;
    if (entry.next) return entry.next;
    const wait = entry.startedAt + this.#options.ttlMs - performance.now();
    if (wait <= 0) return this.#start(key, channel, load);
    entry.next = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() => this.#start(key, channel, load));
    return entry.next;
  }

  get size(): number {
    return this.#entries.size;
  }

  #start(key: string, channel: string, load: () => Promise<T>): Promise<T> {
    this.loads++;
    const entry: Entry<T> = {
      promise: load(),
      startedAt: performance.now(),
      generation: this.#options.generation(channel),
    };
    entry.promise.catch(() => {
      if (this.#entries.get(key) === entry) this.#entries.delete(key);
    });
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    if (this.#entries.size > this.#options.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
    return entry.promise;
  }
}
