/**
 * The drain (docs/decisions/092-write-pipeline.md, "Drain"): moves buffered items from the Redis
 * streams into Postgres, exactly once, with any number of drains running at once.
 *
 * Each stream (class × partition) has at most one owner at a time: the drain holding its lease
 * (`SET NX PX`, renewed every batch). Taking a stream over raises its fence in Postgres
 * (cursor.server.ts) and claims, with XAUTOCLAIM, every entry still pending for other consumers of
 * the group (a drain that died, or lost its lease while stalled). The owner then reads in id order:
 * its pending entries first (`XREADGROUP … 0`), then new ones (`>`). After each read of new entries,
 * `XPENDING` tells whether another consumer holds entries (one that read just before it lost the
 * stream); those are claimed and everything is re-read in id order before anything is committed, so
 * an entry is never passed over. Every batch is one transaction (cursor.server.ts) whose effects and
 * cursor commit together; XACK (and XTRIM of what is acknowledged) follows the commit. A failure of
 * any step goes back to reading the pending entries, so nothing read is skipped.
 *
 * Pace: a stream that returned a full batch, or is longer than `eagerBacklog`, is read again at once
 * (eager flush); otherwise the drain waits out its class's interval, counted from the step's start, which
 * bounds how long an item waits (about one interval plus one batch).
 * While some instance serves critical writes (`yieldToCritical`), a stream's batches take at most
 * `criticalShare` of its time: after a batch that took t ms it waits t × (1 − share) / share, at least
 * its interval and at most YIELD_CAP intervals, eager or not, so the drain's Postgres and CPU time goes
 * to the critical writes first.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import type pg from "pg";
import type { BufferedClass } from "@runfeed/core";
import type { Logger } from "../logger.server";
import { ENTRY_FIELDS } from "./acceptor.server";
import { type ApplyResult, type Applier, type StreamEntry, applyBatch, raiseFence } from "./cursor.server";
import {
  CONSUMER_GROUP,
  compareStreamIds,
  leaseKey,
  parseStreamId,
  streamIdTime,
  type StreamName,
} from "./streamNames.server";

export interface DrainBatch {
  stream: StreamName;
  entries: number;
  /** Entries already applied before (their XACK had been lost). */
  skipped: number;
  result: ApplyResult;
  applyMs: number;
  /** Accept → commit of the oldest entry in the batch. */
  lagMs: number;
}

export interface DrainOptions {
  redis: Redis;
  /** Postgres connections per class, so that long log batches never hold up metadata batches. */
  pools: Record<BufferedClass, pg.Pool>;
  streams: StreamName[];
  appliers: Record<BufferedClass, Applier>;
  intervalMs: Record<BufferedClass, number>;
  /** Most entries per batch, per class. */
  batchSize: Record<BufferedClass, number>;
  eagerBacklog: number;
  leaseMs: number;
  /** Queued entries of a stream as last read (QueueDepths); decides eager flushing. */
  depthOf?: (stream: StreamName) => number;
  /** Whether critical writes flow somewhere (QueueDepths.criticalAnywhere): the drain yields then. */
  yieldToCritical?: () => boolean;
  /** While yielding, the largest share of each stream's time spent on batches (WRITE_PIPELINE_BUFFERED_SHARE). */
  criticalShare?: number;
  logger: Logger;
  consumer?: string;
  onBatch?: (batch: DrainBatch) => void;
}

const RENEW_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1]) else return 0 end`;

type RawEntry = [id: string, fields: string[] | null];

/** While yielding, a stream waits at most this many of its class's intervals between batches. */
const YIELD_CAP = 5;

interface Ownership {
  fence: string;
  /** False until this owner's pending entries are all applied: read `0`, not `>`. */
  pendingDone: boolean;
}

export class WritePipelineDrain {
  readonly consumer: string;
  readonly #stop = new AbortController();
  #loops: Promise<void>[] = [];
  readonly #owned = new Set<string>();

  constructor(private readonly options: DrainOptions) {
    this.consumer = options.consumer ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  }

  start() {
    if (this.#loops.length > 0) return;
    this.#loops = this.options.streams.map((stream) => this.#run(stream));
  }

  /** The streams this drain owns now. */
  get owned(): ReadonlySet<string> {
    return this.#owned;
  }

  async stop() {
    this.#stop.abort();
    await Promise.all(this.#loops);
    this.#loops = [];
  }

  async #run(stream: StreamName) {
    const { redis, logger } = this.options;
    let owned: Ownership | undefined;
    while (!this.#stop.signal.aborted) {
      try {
        if (!owned) {
          owned = await this.#takeOver(stream);
          if (!owned) {
            await this.#pause(this.options.leaseMs / 2);
            continue;
          }
        } else if (!(await redis.eval(RENEW_LEASE, 1, leaseKey(stream), this.consumer, this.options.leaseMs))) {
          logger.warn({ stream: stream.key }, "write pipeline: lease lost; another drain owns the stream");
          owned = this.#lose(stream);
          continue;
        }
        const stepStarted = performance.now();
        const fromPending = !owned.pendingDone;
        const entries = await this.#read(stream, fromPending ? "0" : ">");
        if (fromPending && entries.length === 0) {
          owned.pendingDone = true;
          continue;
        }
        if (!fromPending && entries.length > 0 && (await this.#othersHoldEntries(stream))) {
          owned.pendingDone = false; // claimed them: re-read everything in id order first
          continue;
        }
        if (entries.length > 0 && !(await this.#apply(stream, owned, entries))) {
          logger.warn({ stream: stream.key }, "write pipeline: fenced off; another drain took the stream");
          owned = this.#lose(stream);
          continue;
        }
        const backlog = this.options.depthOf?.(stream) ?? 0;
        const eager = entries.length >= this.options.batchSize[stream.urgency] || backlog > this.options.eagerBacklog;
        const interval = this.options.intervalMs[stream.urgency];
        if (this.options.yieldToCritical?.()) {
          // Critical writes flow: this stream's batches take at most `criticalShare` of its time.
          const share = this.options.criticalShare ?? 1;
          const spent = performance.now() - stepStarted;
          await this.#pause(Math.min(Math.max(interval, (spent * (1 - share)) / share), YIELD_CAP * interval));
        } else if (!eager) {
          // The interval counts from this step's start: a slow batch shortens the wait for the next,
          // so an item waits at most about one interval plus one batch.
          await this.#pause(interval - (performance.now() - stepStarted));
        }
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        logger.warn(
          { stream: stream.key, err: (error as Error).message },
          "write pipeline: drain step failed; retrying",
        );
        if (owned) owned.pendingDone = false;
        if (/NOGROUP/.test((error as Error).message)) owned = this.#lose(stream);
        await this.#pause(this.options.intervalMs[stream.urgency]);
      }
    }
    if (owned) {
      await redis.eval(RELEASE_LEASE, 1, leaseKey(stream), this.consumer).catch(() => {});
      this.#owned.delete(stream.key);
    }
  }

  #lose(stream: StreamName): undefined {
    this.#owned.delete(stream.key);
    return undefined;
  }

  async #takeOver(stream: StreamName): Promise<Ownership | undefined> {
    const { redis, leaseMs } = this.options;
    const pool = this.options.pools[stream.urgency];
    const got = await redis.set(leaseKey(stream), this.consumer, "PX", leaseMs, "NX");
    if (got !== "OK") return undefined;
    await redis.xgroup("CREATE", stream.key, CONSUMER_GROUP, "0", "MKSTREAM").catch((error: Error) => {
      if (!/BUSYGROUP/.test(error.message)) throw error;
    });
    const fence = await raiseFence(pool, stream.cursor);
    await this.#claimAll(stream);
    this.#owned.add(stream.key);
    this.options.logger.info(
      { stream: stream.key, consumer: this.consumer, fence },
      "write pipeline: drain owns stream",
    );
    return { fence, pendingDone: false };
  }

  /** Every entry pending for another consumer becomes ours; consumers left with none are removed. */
  async #claimAll(stream: StreamName) {
    const { redis } = this.options;
    let start = "0-0";
    do {
      const [next] = (await redis.xautoclaim(stream.key, CONSUMER_GROUP, this.consumer, 0, start, "COUNT", 1000)) as [
        string,
        unknown,
      ];
      start = next;
    } while (start !== "0-0");
    const consumers = (await redis.xinfo("CONSUMERS", stream.key, CONSUMER_GROUP)) as unknown[][];
    for (const fields of consumers) {
      const info = Object.fromEntries(chunk(fields));
      if (info.name !== this.consumer && Number(info.pending) === 0) {
        await redis.xgroup("DELCONSUMER", stream.key, CONSUMER_GROUP, String(info.name));
      }
    }
  }

  /** Whether another consumer holds pending entries; if so they are claimed. */
  async #othersHoldEntries(stream: StreamName): Promise<boolean> {
    const summary = (await this.options.redis.xpending(stream.key, CONSUMER_GROUP)) as [
      number,
      string | null,
      string | null,
      Array<[string, string]> | null,
    ];
    const others = (summary[3] ?? []).some(([name, count]) => name !== this.consumer && Number(count) > 0);
    if (others) await this.#claimAll(stream);
    return others;
  }

  async #read(stream: StreamName, from: "0" | ">"): Promise<RawEntry[]> {
    const reply = (await this.options.redis.xreadgroup(
      "GROUP",
      CONSUMER_GROUP,
      this.consumer,
      "COUNT",
      this.options.batchSize[stream.urgency],
      "STREAMS",
      stream.key,
      from,
    )) as Array<[string, RawEntry[]]> | null;
    return reply?.[0]?.[1] ?? [];
  }

  /** One transaction, then XACK and trim; false when fenced off. */
  async #apply(stream: StreamName, owned: Ownership, raw: RawEntry[]): Promise<boolean> {
    const entries: StreamEntry[] = [];
    for (const [id, fields] of raw) {
      if (!fields) continue; // deleted from the stream: nothing to apply, only to acknowledge
      const map = Object.fromEntries(chunk(fields));
      entries.push({
        id,
        environmentId: String(map[ENTRY_FIELDS.environment]),
        items: JSON.parse(String(map[ENTRY_FIELDS.items] ?? "[]")) as unknown[],
      });
    }
    const started = performance.now();
    const outcome = await applyBatch(
      this.options.pools[stream.urgency],
      stream.cursor,
      owned.fence,
      entries,
      this.options.appliers[stream.urgency],
    );
    if (outcome.kind === "fenced") return false;
    const applyMs = performance.now() - started;
    const ids = raw.map(([id]) => id);
    const last = ids.reduce((max, id) => (compareStreamIds(id, max) > 0 ? id : max));
    const [ms, seq] = parseStreamId(last);
    await this.options.redis
      .pipeline()
      .xack(stream.key, CONSUMER_GROUP, ...ids)
      .xtrim(stream.key, "MINID", `${ms}-${seq + 1n}`)
      .exec();
    const oldest = ids.reduce((min, id) => (compareStreamIds(id, min) < 0 ? id : min));
    this.options.onBatch?.({
      stream,
      entries: raw.length,
      skipped: outcome.skipped,
      result: outcome.result,
      applyMs,
      lagMs: Math.max(0, Date.now() - streamIdTime(oldest)),
    });
    return true;
  }

  async #pause(ms: number) {
    if (ms <= 0) return;
    await sleep(ms, undefined, { signal: this.#stop.signal }).catch(() => {});
  }
}

function chunk(fields: unknown[]): Array<[string, unknown]> {
  const pairs: Array<[string, unknown]> = [];
  for (let i = 0; i + 1 < fields.length; i += 2) pairs.push([String(fields[i]), fields[i + 1]]);
  return pairs;
}
