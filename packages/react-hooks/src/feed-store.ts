/**
 * An external store (for useSyncExternalStore) over one SDK subscription. It has no protocol logic:
 * it opens the subscription when the first React listener attaches, closes it when the last one
 * leaves (unmount), never reopens after the feed ended (a finished run, an error, or stop()), and
 * keeps an immutable snapshot of the runs seen, by id, in first-seen order (or, with `limit`, the newest
 * `limit` runs, newest first) and of the subscription's connection state.
 */
import { RecentRuns, type ConnectionState, type RealtimeRun, type RunSubscription } from "@runfeed/sdk";

export interface FeedSnapshot<TRun extends RealtimeRun<any, any, any>> {
  readonly runs: readonly TRun[];
  readonly error: Error | undefined;
  /** The feed ended: the run finished, it failed, or stop() was called. */
  readonly ended: boolean;
  /** The subscription's state: connecting, live, reconnecting, refused, completed, unsubscribed, errored. */
  readonly connection: ConnectionState;
}

export interface FeedStoreOptions<TRun extends RealtimeRun<any, any, any>> {
  /** Opens the subscription; may throw (e.g. no accessToken), which becomes the snapshot's error. */
  open: () => RunSubscription<TRun>;
  /** Called once, the first time a run with finishedAt is seen. */
  onComplete?: (run: TRun) => void;
  /** Keep only the newest `limit` runs, newest first (a run table), instead of every run in first-seen order. */
  limit?: number;
}

const EMPTY = Object.freeze({ runs: Object.freeze([]), error: undefined, ended: false, connection: "connecting" });

export class FeedStore<TRun extends RealtimeRun<any, any, any> = RealtimeRun> {
  #snapshot: FeedSnapshot<TRun> = EMPTY as FeedSnapshot<TRun>;
  readonly #listeners = new Set<() => void>();
  readonly #options: FeedStoreOptions<TRun>;
  #subscription: RunSubscription<TRun> | undefined;
  #completeCalled = false;
  readonly #recent: RecentRuns<TRun> | undefined;

  constructor(options: FeedStoreOptions<TRun>) {
    this.#options = options;
    this.#recent = options.limit === undefined ? undefined : new RecentRuns<TRun>({ limit: options.limit });
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
    this.#set({ ended: true, connection: "unsubscribed" });
  };

  #open() {
    if (this.#subscription || this.#snapshot.ended) return;
    let subscription: RunSubscription<TRun>;
    try {
      subscription = this.#options.open();
    } catch (error) {
      this.#set({ error: error as Error, ended: true, connection: "errored" });
      return;
    }
    this.#subscription = subscription;
    this.#set({ connection: subscription.state.kind });
    subscription.subscribe({
      state: (state) => {
        // An unmount's unsubscribe is not shown: a remount reopens.
        if (this.#subscription === subscription) this.#set({ connection: state.kind });
      },
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
    const recent = this.#recent;
    if (recent) {
      if (recent.apply(run)) this.#set({ runs: recent.runs });
    } else {
      const runs = this.#snapshot.runs;
      const index = runs.findIndex((r) => r.id === run.id);
      this.#set({ runs: index === -1 ? [...runs, run] : runs.map((r, i) => (i === index ? run : r)) });
    }
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
