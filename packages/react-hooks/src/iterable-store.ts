/**
 * An external store (for useSyncExternalStore) over one SDK async iterable, for the realtime stream
 * hooks. No protocol logic: it starts iterating when the first React listener attaches, stops when the
 * last one leaves (unmount), folds what arrives into an immutable snapshot at most once per
 * `throttleMs` (tokens can arrive faster than a screen refreshes), and never restarts once the
 * iterable ended or failed. A restart after an unmount (StrictMode) goes through `open(snapshot)`, so
 * the opener can resume where the last snapshot ends instead of repeating it.
 */

export interface IterableSnapshot<S> {
  readonly value: S;
  readonly error: Error | undefined;
  /** The iterable ended (the stream ended), failed, or stop() was called. */
  readonly ended: boolean;
}

export interface IterableStoreOptions<S, P> {
  initial: S;
  /** Starts iterating; `current` is the snapshot so far (to resume from it). */
  open: (current: S, signal: AbortSignal) => AsyncIterable<P>;
  /** Folds a batch of items into the value (pure; returns a new value). */
  fold: (value: S, items: readonly P[]) => S;
  /** Applied to the value before every (re)start, for iterables that replay from the beginning. */
  reset?: (value: S) => S;
  throttleMs?: number;
}

export class IterableStore<S, P> {
  #snapshot: IterableSnapshot<S>;
  readonly #listeners = new Set<() => void>();
  readonly #options: IterableStoreOptions<S, P>;
  #controller: AbortController | undefined;
  #pending: P[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastFlush = 0;

  constructor(options: IterableStoreOptions<S, P>) {
    this.#options = options;
    this.#snapshot = { value: options.initial, error: undefined, ended: false };
  }

  readonly getSnapshot = (): IterableSnapshot<S> => this.#snapshot;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#start();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#halt();
    };
  };

  /** Ends for good; what arrived stays in the snapshot. */
  readonly stop = (): void => {
    this.#halt();
    this.#set({ ended: true });
  };

  #start() {
    if (this.#controller || this.#snapshot.ended) return;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#options.reset) this.#snapshot = { ...this.#snapshot, value: this.#options.reset(this.#snapshot.value) };
    void (async () => {
      try {
        for await (const item of this.#options.open(this.#snapshot.value, controller.signal)) {
          if (controller.signal.aborted) return;
          this.#pending.push(item);
          this.#schedule();
        }
        if (controller.signal.aborted) return;
        this.#flush();
        this.#controller = undefined;
        this.#set({ ended: true });
      } catch (error) {
        if (controller.signal.aborted) return;
        this.#flush();
        this.#controller = undefined;
        this.#set({ error: error instanceof Error ? error : new Error(String(error)), ended: true });
      }
    })();
  }

  #halt() {
    this.#flush();
    this.#controller?.abort();
    this.#controller = undefined;
  }

  #schedule() {
    if (this.#timer) return;
    const throttle = this.#options.throttleMs ?? 16;
    const wait = Math.max(0, this.#lastFlush + throttle - Date.now());
    this.#timer = setTimeout(() => this.#flush(), wait);
  }

  #flush() {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const items = this.#pending;
    this.#pending = [];
    this.#lastFlush = Date.now();
    this.#set({ value: this.#options.fold(this.#snapshot.value, items) });
  }

  #set(patch: Partial<IterableSnapshot<S>>) {
    this.#snapshot = { ...this.#snapshot, ...patch };
    for (const listener of [...this.#listeners]) listener();
  }
}
