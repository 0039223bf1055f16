/**
 * "Run changed" signals over Redis pub/sub (docs/decisions/073-realtime-notifier-backend.md): every
 * write path publishes one after its commit, and the native realtime feed's live requests wait on them.
 *
 * A signal carries no data, only the run id: a woken request reads Postgres. Channels: one per run,
 * one per batch, one per (environment, tag) and one per environment (a tag feed without tags, and any
 * tag feed's backstop of last resort), and one per run for its log lines (the log feed; a log line
 * changes no run row, so it wakes no run, tag or batch feed). Publishing is fire-and-forget and never fails a write: a lost
 * signal costs a live request its backstop wait (REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS), nothing more.
 *
 * Both connections are opened on first use, and publishing is skipped while `needed()` says no feed
 * is served natively: with every feed on the shape server this module opens no connection at all.
 *
 * Each subscribed channel carries a generation, bumped by every signal and by every (re)subscription:
 * a resolution computed at generation g is known current as long as the channel still reads g
 * (runSetCache.server.ts).
 */
import { Redis } from "ioredis";
import type { Logger } from "../../logger.server";
import { TtlCache } from "../../ttlCache.server";
import type { ClientSignal } from "../clientSignal.server";

export interface RunChanged {
  runId: string;
  environmentId: string;
  tags?: readonly string[] | null;
  batchId?: string | null;
}

/** A run row as write paths hold it: enough to name its channels. */
export interface ChangedRunRow {
  id: string;
  runtimeEnvironmentId: string;
  runTags?: readonly string[] | null;
  batchId?: string | null;
}

export const runChangedOf = (run: ChangedRunRow): RunChanged => ({
  runId: run.id,
  environmentId: run.runtimeEnvironmentId,
  tags: run.runTags,
  batchId: run.batchId,
});

/** What a write path needs of RunSignals. */
export type RunChangePublisher = Pick<
  RunSignals,
  "publishRunChanged" | "publishRunsChanged" | "publishRunIdsChanged" | "publishRunLogsAppended"
>;

/** What a writer of run log lines needs of RunSignals. */
export type RunLogsPublisher = Pick<RunSignals, "publishRunLogsAppended">;

export interface RunSignalsOptions {
  redisUrl: string;
  keyPrefix: string;
  logger: Logger;
  /** Whether any feed may be served natively now (no publishing otherwise). */
  needed: () => boolean;
  /** A channel nobody listens to any more stays subscribed this long (re-polls come straight back). */
  lingerMs?: number;
  /** Reads the channels' fields of runs a write path knows only by id (publishRunIdsChanged). */
  lookup?: (ids: string[]) => Promise<ChangedRunRow[]>;
}

export type WaitOutcome = "signal" | "timeout" | "aborted";

interface Subscription {
  listeners: Set<SignalListener>;
  /** Bumped by every signal and every (re)subscription; undefined until the subscription is confirmed. */
  generation: number | undefined;
  ready: Promise<void>;
  linger?: NodeJS.Timeout;
}

/** Channels of one feed, listened to from before its first read until its answer. */
export class SignalListener {
  #pending = false;
  #wake: (() => void) | undefined;
  /** When the last signal arrived (performance.now()), 0 before any. */
  lastSignalAt = 0;

  constructor(readonly close: () => void) {}

  notify(): void {
    this.#pending = true;
    this.lastSignalAt = performance.now();
    this.#wake?.();
  }

  /** Resolves at the next signal (or at once if one came since the last call), the timeout, or the abort. */
  next(timeoutMs: number, signal: ClientSignal): Promise<WaitOutcome> {
    if (signal.aborted) return Promise.resolve("aborted");
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve("signal");
    }
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.#wake = undefined;
        if (outcome === "signal") this.#pending = false;
        resolve(outcome);
      };
      const onAbort = () => finish("aborted");
      const timer = setTimeout(() => finish("timeout"), Math.max(0, timeoutMs));
      signal.addEventListener("abort", onAbort, { once: true });
      this.#wake = () => finish("signal");
    });
  }
}

export class RunSignals {
  readonly #options: RunSignalsOptions;
  readonly #subscriptions = new Map<string, Subscription>();
  #publisher: Redis | undefined;
  /** Runs' environment, tags and batch as last published or read (tags change rarely, and publish themselves). */
  readonly #known = new TtlCache<RunChanged>({ ttlMs: 10_000, maxEntries: 50_000 });
  #subscriber: Redis | undefined;
  /** Signals published by this instance (metrics and the bench's Redis-ops figure). */
  published = 0;

  constructor(options: RunSignalsOptions) {
    this.#options = options;
  }

  runChannel(runId: string): string {
    return `${this.#options.keyPrefix}realtime:run:${runId}`;
  }
  batchChannel(batchId: string): string {
    return `${this.#options.keyPrefix}realtime:batch:${batchId}`;
  }
  environmentChannel(environmentId: string): string {
    return `${this.#options.keyPrefix}realtime:env:${environmentId}`;
  }
  tagChannel(environmentId: string, tag: string): string {
    return `${this.#options.keyPrefix}realtime:env:${environmentId}:tag:${tag}`;
  }

  logsChannel(runId: string): string {
    return `${this.#options.keyPrefix}realtime:run:${runId}:logs`;
  }

  /** After the commit of log lines (internal run ids): one PUBLISH per run. Never throws and never waits. */
  publishRunLogsAppended(runIds: readonly string[]): void {
    if (runIds.length === 0 || !this.#options.needed()) return;
    const pipeline = this.#publisherConnection().pipeline();
    for (const runId of new Set(runIds)) {
      pipeline.publish(this.logsChannel(runId), runId);
      this.published++;
    }
    pipeline.exec().catch((error: Error) => this.#options.logger.debug({ err: error.message }, "run signal lost"));
  }

  /** After the commit of a write to the run. Never throws and never waits. */
  publishRunChanged(change: RunChanged): void {
    this.publishRunsChanged([change]);
  }

  /**
   * For write paths that know only the runs' ids (metadata, the worker's status changes): their
   * environment, tags and batch come from this instance's memory, else one read for all of them.
   */
  publishRunIdsChanged(ids: readonly string[]): void {
    if (ids.length === 0 || !this.#options.needed()) return;
    const known: RunChanged[] = [];
    const unknown: string[] = [];
    for (const id of new Set(ids)) {
      const change = this.#known.peek(id);
      if (change) known.push(change);
      else unknown.push(id);
    }
    this.publishRunsChanged(known);
    if (unknown.length === 0) return;
    const lookup = this.#options.lookup;
    if (!lookup) {
      this.publishRunsChanged(unknown.map((runId) => ({ runId, environmentId: "" })));
      return;
    }
    lookup(unknown)
      .then((rows) => this.publishRunsChanged(rows.map(runChangedOf)))
      .catch((error: Error) => this.#options.logger.debug({ err: error.message }, "run signal lost"));
  }

  publishRunsChanged(changes: readonly RunChanged[]): void {
    if (changes.length === 0 || !this.#options.needed()) return;
    const publisher = this.#publisherConnection();
    const pipeline = publisher.pipeline();
    for (const change of changes) {
      const { runId, environmentId } = change;
      if (environmentId) this.#known.set(runId, change);
      pipeline.publish(this.runChannel(runId), runId);
      if (environmentId) pipeline.publish(this.environmentChannel(environmentId), runId);
      for (const tag of new Set(change.tags ?? [])) pipeline.publish(this.tagChannel(environmentId, tag), runId);
      if (change.batchId) pipeline.publish(this.batchChannel(change.batchId), runId);
      this.published++;
    }
    pipeline.exec().catch((error: Error) => this.#options.logger.debug({ err: error.message }, "run signal lost"));
  }

  /** Subscribes to `channels` (resolved once Redis confirmed every subscription). */
  async listen(channels: readonly string[]): Promise<SignalListener> {
    const unique = [...new Set(channels)];
    const listener = new SignalListener(() => {
      for (const channel of unique) this.#release(channel, listener);
    });
    await Promise.all(unique.map((channel) => this.#acquire(channel, listener)));
    return listener;
  }

  /** Redis connections this instance opened for signals (0 while no feed is served natively). */
  get connections(): number {
    return (this.#publisher ? 1 : 0) + (this.#subscriber ? 1 : 0);
  }

  /** The channel's generation while it is subscribed; undefined when it is not (nothing can be trusted). */
  generation(channel: string): number | undefined {
    return this.#subscriptions.get(channel)?.generation;
  }

  close(): void {
    for (const subscription of this.#subscriptions.values()) clearTimeout(subscription.linger);
    this.#subscriptions.clear();
    this.#publisher?.disconnect();
    this.#subscriber?.disconnect();
  }

  #publisherConnection(): Redis {
    if (!this.#publisher) {
      this.#publisher = new Redis(this.#options.redisUrl, { maxRetriesPerRequest: 1, enableAutoPipelining: true });
      this.#publisher.on("error", (error) =>
        this.#options.logger.debug({ err: error.message }, "run signals publisher error"),
      );
    }
    return this.#publisher;
  }

  #subscriberConnection(): Redis {
    if (!this.#subscriber) {
      const subscriber = new Redis(this.#options.redisUrl, { maxRetriesPerRequest: null });
      subscriber.on("error", (error) =>
        this.#options.logger.debug({ err: error.message }, "run signals subscriber error"),
      );
      subscriber.on("message", (channel: string) => {
        const subscription = this.#subscriptions.get(channel);
        if (!subscription || subscription.generation === undefined) return;
        subscription.generation++;
        for (const listener of subscription.listeners) listener.notify();
      });
      // After a reconnect (ioredis subscribes again) signals may have been missed: nothing cached is
      // current any more, and every waiting request looks again.
      subscriber.on("ready", () => {
        for (const subscription of this.#subscriptions.values()) {
          if (subscription.generation === undefined) continue;
          subscription.generation++;
          for (const listener of subscription.listeners) listener.notify();
        }
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }

  async #acquire(channel: string, listener: SignalListener): Promise<void> {
    let subscription = this.#subscriptions.get(channel);
    if (!subscription) {
      const created: Subscription = { listeners: new Set(), generation: undefined, ready: Promise.resolve() };
      created.ready = this.#subscriberConnection()
        .subscribe(channel)
        .then(() => {
          if (this.#subscriptions.get(channel) === created) created.generation = 1;
        });
      this.#subscriptions.set(channel, created);
      subscription = created;
    }
    clearTimeout(subscription.linger);
    subscription.linger = undefined;
    subscription.listeners.add(listener);
    await subscription.ready;
  }

  #release(channel: string, listener: SignalListener): void {
    const subscription = this.#subscriptions.get(channel);
    if (!subscription) return;
    subscription.listeners.delete(listener);
    if (subscription.listeners.size > 0 || subscription.linger) return;
    subscription.linger = setTimeout(() => {
      if (this.#subscriptions.get(channel) !== subscription || subscription.listeners.size > 0) return;
      this.#subscriptions.delete(channel);
      this.#subscriber?.unsubscribe(channel).catch(() => {});
    }, this.#options.lingerMs ?? 30_000);
    subscription.linger.unref();
  }
}
