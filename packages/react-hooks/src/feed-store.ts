/**
 * An external store (for useSyncExternalStore) over one SDK subscription. It has no protocol logic:
 * it opens the subscription when the first React listener attaches, closes it when the last one
 * leaves (unmount), never reopens after the feed ended (a finished run, an error, or stop()), and
 * keeps an immutable snapshot of the runs seen, by id, in first-seen order.
 */
import type { RealtimeRun, RunSubscription } from "@runfeed/sdk";

export interface FeedSnapshot<TRun extends RealtimeRun<any, any, any>> {
  readonly runs: readonly TRun[];
  readonly error: Error | undefined;
  /** The feed ended: the run finished, it failed, or stop() was called. */
  readonly ended: boolean;
}

export interface FeedStoreOptions<TRun extends RealtimeRun<any, any, any>> {
  /** Opens the subscription; may throw (e.g. no accessToken), which becomes the snapshot's error. */
  open: () => RunSubscription<TRun>;
  /** Called once, the first time a run with finishedAt is seen. */
  onComplete?: (run: TRun) => void;
}

const EMPTY = Object.freeze({ runs: Object.freeze([]), error: undefined, ended: false });

export class FeedStore<TRun extends RealtimeRun<any, any, any> = RealtimeRun> {
  #snapshot: FeedSnapshot<TRun> = EMPTY as FeedSnapshot<TRun>;
  readonly #listeners = new Set<() => void>();
  readonly #options: FeedStoreOptions<TRun>;
  #subscription: RunSubscription<TRun> | undefined;
  #completeCalled = false;

  constructor(options: FeedStoreOptions<TRun>) {
    this.#options = options;
  }

  readonly getSnapshot = (): FeedSnapshot<TRun> => this.#snapshot;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    if (this.#listeners.size === 1) this.#open();
    return () => {
      this.#listeners.delete(listener);
      // Unmounted: stop the network at once. A later listener (StrictMode remount) reopens.
      if (this.#listeners.size === 0) this.#close();
    };
  };

  /** Ends the feed for good; the last runs stay in the snapshot. */
  readonly stop = (): void => {
    this.#close();
    this.#set({ ended: true });
  };

  #open() {
    if (this.#subscription || this.#snapshot.ended) return;
    let subscription: RunSubscription<TRun>;
    try {
      subscription = this.#options.open();
    } catch (error) {
      this.#set({ error: error as Error, ended: true });
      return;
    }
    this.#subscription = subscription;
    subscription.subscribe({
      next: (run) => this.#onRun(run),
      error: (error) => {
        if (this.#subscription !== subscription) return;
        this.#subscription = undefined;
        this.#set({ error, ended: true });
      },
      complete: () => {
        if (this.#subscription !== subscription) return;
        this.#subscription = undefined;
        // Completion by itself (the run finished) ends the feed; an unsubscribe on unmount does not.
        if (subscription.state.kind === "completed") this.#set({ ended: true });
      },
    });
  }

  #close() {
    const subscription = this.#subscription;
    this.#subscription = undefined;
    subscription?.unsubscribe();
  }

  #onRun(run: TRun) {
    const runs = this.#snapshot.runs;
    const index = runs.findIndex((r) => r.id === run.id);
    const next = index === -1 ? [...runs, run] : runs.map((r, i) => (i === index ? run : r));
    this.#set({ runs: next });
    if (run.finishedAt && !this.#completeCalled) {
      this.#completeCalled = true;
      this.#options.onComplete?.(run);
    }
  }

  #set(patch: Partial<FeedSnapshot<TRun>>) {
    this.#snapshot = { ...this.#snapshot, ...patch };
    for (const listener of [...this.#listeners]) listener();
  }
}
