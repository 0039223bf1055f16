/**
 * One SSE reader of a realtime stream (docs/decisions/081-realtime-streams.md): the archive, then Redis,
 * then live hub deliveries, as one gapless sequence of `id: <entry id>` / `data: <json>` events.
 *
 *   archive ──(no segment after the cursor)──► catch-up (XRANGE pages) ──(tail reached)──► live
 *                                                  ▲                                         │
 *                                                  └────────(reader fell far behind)─────────┘
 *
 * The cursor is the last entry id handled; everything at or before it is skipped, whichever path
 * brings it. The reader ends (the body closes cleanly, which ends the SDK's subscription) when:
 * - it reaches the stream's final end marker (the stream ended: its run finished, or it went idle);
 * - the stream was archived as ended and Redis has forgotten it;
 * - the stream was never created and its run has finished;
 * - the client asked for an inactivity limit (`Timeout-Seconds`) and no chunk came for that long.
 * It sends `: ping` comments while idle so proxies keep the connection.
 */
import type { PrismaClient } from "@runfeed/database";
import {
  SSE_PING,
  compareStreamEntryIds,
  parseStreamEntryId,
  sseEvent,
  type StreamEntryId,
  type StreamResumePoint,
} from "@runfeed/core";
import type { DirectBody } from "../../directBody.server";
import { archivedStream, readArchive } from "./streamArchive.server";
import type { StreamHub } from "./streamHub.server";
import type { RunFinishWatcher } from "./runFinishWatcher.server";
import type { StreamEntry, StreamRef, StreamStore } from "./streamStore.server";

export interface StreamReaderDeps {
  store: StreamStore;
  hub: StreamHub;
  prisma: PrismaClient;
  runs: RunFinishWatcher;
}

export interface StreamReaderOptions {
  ref: StreamRef;
  resume?: StreamResumePoint;
  /** Start at the current end (only chunks appended after connecting). */
  startLatest?: boolean;
  /** Close after this long without a chunk (the client's Timeout-Seconds). */
  inactivityTimeoutMs?: number;
}

export const StreamReaderDefaults = {
  pingIntervalMs: 15_000,
  pageSize: 1_000,
  /** Hub deliveries queued for a reader that does not keep up; past this it re-reads from Redis. */
  maxQueued: 20_000,
};

const ZERO: StreamEntryId = { ms: 0, seq: 0 };
const encoder = new TextEncoder();

type Phase = "start" | "archive" | "catch-up" | "live" | "done";

class StreamReader {
  readonly #deps: StreamReaderDeps;
  readonly #options: StreamReaderOptions;
  readonly #streamKey: string;
  #phase: Phase = "start";
  #cursor: StreamEntryId = ZERO;
  #cursorText = "0-0";
  #skip = 0;
  #queue: StreamEntry[] = [];
  #unwatch: (() => void) | undefined;
  #wake: (() => void) | undefined;
  #lastChunkAt = Date.now();
  #lastOutputAt = Date.now();
  /** No meta and no archive row: the stream was never created (yet). */
  #absent = false;
  /** While absent: the run-finished watch (RunFinishWatcher), and whether it fired. */
  #unwatchRun: (() => void) | undefined;
  #runFinished = false;
  /** The wait's timer (see #waitForEntries), when it is due, and the signal it listens to. */
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDue = 0;
  #signal: AbortSignal | undefined;

  constructor(deps: StreamReaderDeps, options: StreamReaderOptions) {
    this.#deps = deps;
    this.#options = options;
    this.#streamKey = deps.store.streamKey(options.ref);
    if (options.resume?.kind === "after") this.#advance(options.resume.id, formatId(options.resume.id));
    if (options.resume?.kind === "skip") this.#skip = options.resume.chunks;
  }

  /** The next SSE text to send; undefined once the stream has ended for this reader. */
  async next(signal: AbortSignal): Promise<string | undefined> {
    while (!signal.aborted) {
      switch (this.#phase) {
        case "start":
          await this.#start();
          break;
        case "archive": {
          const text = await this.#readArchive();
          if (text) return text;
          break;
        }
        case "catch-up": {
          const text = await this.#catchUp();
          if (text) return text;
          break;
        }
        case "live": {
          const text = await this.#live(signal);
          if (text) return text;
          break;
        }
        case "done":
          return undefined;
      }
    }
    return undefined;
  }

  close(): void {
    this.#phase = "done";
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#unwatch?.();
    this.#unwatch = undefined;
    this.#setAbsent(false);
    this.#wake?.();
  }

  #setAbsent(absent: boolean) {
    this.#absent = absent;
    if (absent && !this.#unwatchRun) {
      this.#unwatchRun = this.#deps.runs.watch(this.#options.ref.runId, () => {
        this.#runFinished = true;
        this.#wake?.();
      });
    } else if (!absent) {
      this.#unwatchRun?.();
      this.#unwatchRun = undefined;
    }
  }

  async #start() {
    if (this.#options.startLatest && !this.#options.resume) {
      const last = await this.#deps.store.lastId(this.#options.ref);
      const archived = await archivedStream(this.#deps.prisma, this.#options.ref);
      const tail = [last ? parseStreamEntryId(last) : undefined, archived?.archived]
        .filter((id): id is StreamEntryId => id !== undefined)
        .sort(compareStreamEntryIds)
        .at(-1);
      if (tail) this.#advance(tail, formatId(tail));
      this.#phase = "catch-up";
      return;
    }
    this.#phase = "archive";
  }

  async #readArchive(): Promise<string | undefined> {
    const entries = await readArchive(this.#deps.prisma, this.#options.ref, this.#cursor);
    if (entries.length === 0) {
      this.#phase = "catch-up";
      return undefined;
    }
    return this.#render(entries);
  }

  /** Redis from the cursor to its tail, with the hub already buffering what comes after. */
  async #catchUp(): Promise<string | undefined> {
    if (!this.#unwatch) {
      this.#queue = [];
      const unwatch = await this.#deps.hub.watch(this.#streamKey, (entries) => this.#onLive(entries));
      // Closed (the client left) while joining: let go at once.
      if (this.#phase === "done") return void unwatch();
      this.#unwatch = unwatch;
    }
    const entries = await this.#deps.store.range(this.#options.ref, this.#cursorText, StreamReaderDefaults.pageSize);
    if (entries.length === StreamReaderDefaults.pageSize) return this.#render(entries);
    this.#phase = "live";
    const text = entries.length > 0 ? this.#render(entries) : undefined;
    if (entries.length === 0 && this.#phase === "live") await this.#checkPresence();
    else if (this.#phase === "live" && entries.at(-1)?.end !== undefined && this.#cursorText === entries.at(-1)!.id)
      await this.#checkEnd(this.#cursorText);
    return text;
  }

  async #live(signal: AbortSignal): Promise<string | undefined> {
    if (this.#queue.length > 0) {
      const entries = this.#queue;
      this.#queue = [];
      const text = this.#render(entries);
      const last = entries.at(-1)!;
      if (last.end !== undefined && this.#cursorText === last.id) await this.#checkEnd(last.id);
      return text;
    }
    const now = Date.now();
    const inactivity = this.#options.inactivityTimeoutMs;
    if (inactivity !== undefined && now - this.#lastChunkAt >= inactivity) {
      this.close();
      return undefined;
    }
    if (this.#absent && this.#runFinished) {
      // The run finished without ever creating the stream, unless it did so a moment ago.
      await this.#checkPresence();
      if (this.#absent) this.close();
      return undefined;
    }
    if (now - this.#lastOutputAt >= StreamReaderDefaults.pingIntervalMs) {
      this.#lastOutputAt = now;
      return SSE_PING;
    }
    const deadlines = [this.#lastOutputAt + StreamReaderDefaults.pingIntervalMs];
    if (inactivity !== undefined) deadlines.push(this.#lastChunkAt + inactivity);
    await this.#waitForEntries(Math.max(0, Math.min(...deadlines) - now), signal);
    return undefined;
  }

  #onLive(entries: readonly StreamEntry[]) {
    for (const entry of entries) this.#queue.push(entry);
    if (this.#queue.length > StreamReaderDefaults.maxQueued) {
      // Too far behind: stop buffering, re-read from Redis at the reader's own pace.
      this.#unwatch?.();
      this.#unwatch = undefined;
      this.#queue = [];
      this.#phase = "catch-up";
    }
    this.#wake?.();
  }

  /**
   * Waits for a delivery, the abort, or `ms`. A reader waits once per delivery (50 times a second at
   * a token stream's rate), so the wait reuses one abort listener and one timer for the reader's life:
   * the timer is re-armed only when it would fire too late (a wake-up before the deadline is harmless:
   * #live checks its deadlines again and waits anew).
   */
  #waitForEntries(ms: number, signal: AbortSignal): Promise<void> {
    if (this.#signal !== signal) {
      this.#signal = signal;
      signal.addEventListener("abort", () => this.#wake?.(), { once: true });
    }
    const due = Date.now() + ms;
    if (this.#timer === undefined || this.#timerDue > due) {
      clearTimeout(this.#timer);
      this.#timerDue = due;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#wake?.();
      }, ms);
    }
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      this.#wake = () => {
        this.#wake = undefined;
        resolve();
      };
    });
  }

  /** SSE events for the entries after the cursor; end markers move the cursor but are not sent. */
  #render(entries: readonly StreamEntry[]): string | undefined {
    let out = "";
    for (const entry of entries) {
      const id = parseStreamEntryId(entry.id);
      if (!id || compareStreamEntryIds(id, this.#cursor) <= 0) continue;
      this.#advance(id, entry.id);
      if (entry.data === undefined) continue;
      if (this.#absent) this.#setAbsent(false);
      if (this.#skip > 0) {
        this.#skip--;
        continue;
      }
      out += sseEvent(entry.id, entry.data);
    }
    if (!out) return undefined;
    this.#lastChunkAt = this.#lastOutputAt = Date.now();
    return out;
  }

  #advance(id: StreamEntryId, text: string) {
    this.#cursor = id;
    this.#cursorText = text;
  }

  /** An end marker was the last entry seen: it is final unless the stream was reopened after it. */
  async #checkEnd(endId: string) {
    const meta = await this.#deps.store.meta(this.#options.ref);
    if (meta ? meta.state !== "open" && meta.endId === endId : true) this.close();
  }

  /** Nothing in Redis after the cursor: was the stream archived as ended, or never created? */
  async #checkPresence() {
    const meta = await this.#deps.store.meta(this.#options.ref);
    if (meta) {
      this.#setAbsent(false);
      if (
        meta.state !== "open" &&
        meta.endId &&
        compareStreamEntryIds(parseStreamEntryId(meta.endId)!, this.#cursor) <= 0
      )
        this.close();
      return;
    }
    const archived = await archivedStream(this.#deps.prisma, this.#options.ref);
    if (!archived) {
      this.#setAbsent(true);
      return;
    }
    this.#setAbsent(false);
    if (compareStreamEntryIds(archived.archived, this.#cursor) > 0) {
      // Archived (and forgotten by Redis) while this reader was between the two: read it from there.
      this.#unwatch?.();
      this.#unwatch = undefined;
      this.#phase = "archive";
      return;
    }
    if (archived.endedAt) this.close();
  }
}

const formatId = (id: StreamEntryId) => `${id.ms}-${id.seq}`;

/**
 * The SSE texts of one reader, pulled one at a time (each text holds every event ready at that moment).
 * `onClose` runs exactly once, when the body ends, errors or is cancelled (the client went away).
 */
export function streamEventSource(
  deps: StreamReaderDeps,
  options: StreamReaderOptions,
  signal: AbortSignal,
  onClose: () => void,
): DirectBody {
  const reader = new StreamReader(deps, options);
  const abort = new AbortController();
  let closed = false;
  const finish = () => {
    if (closed) return;
    closed = true;
    signal.removeEventListener("abort", finish);
    abort.abort();
    reader.close();
    onClose();
  };
  // The request's signal: the client went away (the body may never be pulled or cancelled again).
  if (signal.aborted) queueMicrotask(finish);
  else signal.addEventListener("abort", finish, { once: true });
  return {
    async next() {
      try {
        const text = await reader.next(abort.signal);
        if (text === undefined) finish();
        return text;
      } catch (error) {
        finish();
        throw error;
      }
    },
    cancel: finish,
  };
}

/** The same texts as a web stream (pulled only when read: a direct consumer may take them instead). */
export function streamEventBody(source: DirectBody): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const text = await source.next();
        if (text === undefined) controller.close();
        else controller.enqueue(encoder.encode(text));
      },
      cancel() {
        source.cancel();
      },
    },
    { highWaterMark: 0 },
  );
}
