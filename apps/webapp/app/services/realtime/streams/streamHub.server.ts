/**
 * Live fan-out of Redis Streams to this instance's readers (docs/decisions/081-realtime-streams.md).
 *
 * Instead of one blocking connection per reader, each shard of up to `keysPerShard` watched streams
 * holds one connection in `XREAD BLOCK … STREAMS k1 … kn id1 … idn`: Redis answers as soon as any of
 * them grows, whichever instance wrote. A shard keeps one cursor per stream (the last id it
 * delivered) and hands every new entry to that stream's listeners, in id order. A stream joins a
 * shard at its current last id; the shard's blocked XREAD is interrupted with `CLIENT UNBLOCK` so the
 * new stream is read at once. Readers catch up on what came before by themselves (XRANGE), then take
 * hub deliveries, skipping ids they already have (streamReader.server.ts).
 *
 * Local fan-out: chunks this instance appended (`publish`, from the store's append reply) are handed
 * to the stream's listeners at once, without waiting for the XREAD to bring them — but only when they
 * follow the shard's cursor directly (the entry before them is the last one delivered), so a chunk
 * another instance appended in between is never skipped. The XREAD brings them again; entries at or
 * before the cursor are not delivered twice.
 */
import { compareStreamEntryIds, parseStreamEntryId } from "@runfeed/core";
import type { Redis } from "ioredis";
import type { Logger } from "../../logger.server";
import { type StreamEntry, toEntry } from "./streamStore.server";

export type EntryListener = (entries: readonly StreamEntry[]) => void;

interface Watched {
  /** Last id delivered; undefined while the join's XREVRANGE is in flight. */
  cursor: string | undefined;
  /** Settles once the cursor is set: a listener added meanwhile must wait for it too. */
  joined: Promise<void>;
  listeners: Set<EntryListener>;
}

export interface StreamHubOptions {
  /** A connection to duplicate for each shard and to send CLIENT UNBLOCK on. */
  redis: Redis;
  logger: Logger;
  keysPerShard?: number;
  /** Entries per stream per XREAD. */
  count?: number;
  /**
   * Before each XREAD: this instance's appends in flight, to wait for (the store's appendsSettled).
   * Their chunks reach the shard through `publish` and move its cursors, so the XREAD that follows does
   * not bring them back; without the wait, a read re-issued in the middle of a burst of appends
   * returns most of them a second time, to be parsed and skipped.
   */
  localAppendsSettled?: () => Promise<unknown> | undefined;
}

export class StreamHub {
  readonly #options: Required<Omit<StreamHubOptions, "logger" | "localAppendsSettled">> &
    Pick<StreamHubOptions, "logger" | "localAppendsSettled">;
  readonly #shards: Shard[] = [];
  readonly #shardOf = new Map<string, Shard>();
  #stopped = false;

  constructor(options: StreamHubOptions) {
    this.#options = { keysPerShard: 200, count: 1_000, ...options };
  }

  /** Listens to `streamKey` from its current end; the returned function stops listening. */
  async watch(streamKey: string, listener: EntryListener): Promise<() => void> {
    if (this.#stopped) throw new Error("stream hub stopped");
    let shard = this.#shardOf.get(streamKey);
    if (!shard) {
      shard = this.#shards.find((s) => s.size < this.#options.keysPerShard) ?? this.#addShard();
      this.#shardOf.set(streamKey, shard);
    }
    await shard.add(streamKey, listener);
    return () => {
      if (shard.remove(streamKey, listener)) this.#shardOf.delete(streamKey);
    };
  }

  /** Entries this instance just appended right after `prevId` (see the module comment). */
  publish(streamKey: string, prevId: string, entries: readonly StreamEntry[]): void {
    this.#shardOf.get(streamKey)?.publish(streamKey, prevId, entries);
  }

  get watchedStreams(): number {
    return this.#shardOf.size;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#shards.map((shard) => shard.stop()));
  }

  #addShard(): Shard {
    const shard = new Shard(
      this.#options.redis,
      this.#options.count,
      this.#options.logger,
      this.#options.localAppendsSettled ?? (() => undefined),
    );
    this.#shards.push(shard);
    return shard;
  }
}

/** Longest a shard's XREAD waits; an interrupt usually ends it sooner. */
const BLOCK_MS = 5_000;

class Shard {
  readonly #watched = new Map<string, Watched>();
  readonly #control: Redis;
  readonly #count: number;
  readonly #logger: Logger;
  readonly #blocking: Redis;
  readonly #localAppendsSettled: () => Promise<unknown> | undefined;
  #clientId: number | undefined;
  #reading = false;
  /** Bumped at every XREAD sent: an interrupt is retried until the read it meant has returned. */
  #readGeneration = 0;
  /** The read generation an interrupt is already under way for. */
  #interrupting = -1;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void>;

  constructor(control: Redis, count: number, logger: Logger, localAppendsSettled: () => Promise<unknown> | undefined) {
    this.#control = control;
    this.#localAppendsSettled = localAppendsSettled;
    this.#count = count;
    this.#logger = logger;
    this.#blocking = control.duplicate({ enableAutoPipelining: false, maxRetriesPerRequest: null });
    this.#blocking.on("error", (error) => logger.debug({ err: error.message }, "stream hub connection error"));
    this.#blocking.on("ready", () => {
      this.#clientId = undefined;
    });
    this.#loop = this.#run();
  }

  get size(): number {
    return this.#watched.size;
  }

  /**
   * Resolves once deliveries to `listener` start right after the stream's last id at that moment, or
   * earlier: a reader that then reads up to the tail with XRANGE misses nothing.
   */
  async add(key: string, listener: EntryListener): Promise<void> {
    const existing = this.#watched.get(key);
    if (existing) {
      existing.listeners.add(listener);
      return existing.joined;
    }
    const watched: Watched = { cursor: undefined, joined: Promise.resolve(), listeners: new Set([listener]) };
    this.#watched.set(key, watched);
    watched.joined = this.#control.xrevrange(key, "+", "-", "COUNT", 1).then((last) => {
      watched.cursor ??= last[0]?.[0] ?? "0-0";
      this.#interrupt();
    });
    return watched.joined;
  }

  /** True when `key` has no listener left (and left the shard). */
  remove(key: string, listener: EntryListener): boolean {
    const watched = this.#watched.get(key);
    if (!watched) return true;
    watched.listeners.delete(listener);
    if (watched.listeners.size > 0) return false;
    this.#watched.delete(key);
    return true;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    this.#blocking.disconnect();
    await this.#loop.catch(() => {});
  }

  /**
   * Re-issues the blocked XREAD so a newly watched stream is read at once. An UNBLOCK that overtakes
   * its XREAD on the way to Redis does nothing, so it is repeated until that read has returned.
   */
  #interrupt(generation = this.#readGeneration, attempt = 0) {
    if (this.#stopped) return;
    if (!this.#reading) return this.#wake?.();
    if (generation !== this.#readGeneration || attempt > 20) return;
    // Many streams joining at once share one interrupt of the read in progress.
    if (attempt === 0 && this.#interrupting === generation) return;
    this.#interrupting = generation;
    const id = this.#clientId;
    if (id !== undefined) void this.#control.client("UNBLOCK", id).catch(() => {});
    setTimeout(() => this.#interrupt(generation, attempt + 1), 25).unref();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const local = this.#localAppendsSettled();
      if (local) await local.catch(() => {});
      const keys: string[] = [];
      const ids: string[] = [];
      for (const [key, watched] of this.#watched) {
        if (watched.cursor === undefined) continue;
        keys.push(key);
        ids.push(watched.cursor);
      }
      if (keys.length === 0) {
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      try {
        this.#clientId ??= Number(await this.#blocking.client("ID"));
        this.#reading = true;
        this.#readGeneration++;
        const result = (await this.#blocking.xread(
          "COUNT",
          this.#count,
          "BLOCK",
          BLOCK_MS,
          "STREAMS",
          ...keys,
          ...ids,
        )) as Array<[string, Array<[string, string[]]>]> | null;
        this.#reading = false;
        for (const [key, raw] of result ?? []) this.#deliver(key, raw);
      } catch (error) {
        this.#reading = false;
        if (this.#stopped) return;
        this.#logger.warn({ err: (error as Error).message }, "stream hub read failed; retrying");
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  publish(key: string, prevId: string, entries: readonly StreamEntry[]) {
    const watched = this.#watched.get(key);
    if (watched && watched.cursor === prevId && entries.length > 0) this.#hand(watched, entries);
  }

  /** An XREAD's entries for `key`, less those at or before the cursor (already handed over locally). */
  #deliver(key: string, raw: Array<[string, string[]]>) {
    const watched = this.#watched.get(key);
    if (!watched || raw.length === 0 || watched.cursor === undefined) return;
    const cursor = parseStreamEntryId(watched.cursor);
    let from = 0;
    if (cursor) {
      const after = (i: number) => compareStreamEntryIds(parseStreamEntryId(raw[i]![0])!, cursor) > 0;
      if (!after(raw.length - 1)) return;
      while (!after(from)) from++;
    }
    this.#hand(
      watched,
      raw.slice(from).map(([id, fields]) => toEntry(id, fields)),
    );
  }

  #hand(watched: Watched, entries: readonly StreamEntry[]) {
    watched.cursor = entries[entries.length - 1]!.id;
    for (const listener of [...watched.listeners]) {
      try {
        listener(entries);
      } catch (error) {
        this.#logger.error({ err: error }, "stream listener failed");
      }
    }
  }
}
