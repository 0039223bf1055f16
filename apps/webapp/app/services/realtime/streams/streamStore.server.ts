/**
 * Live realtime streams in Redis (docs/decisions/081-realtime-streams.md): one Redis Stream per run and
 * key, whose entry ids are the SSE event ids and resume points, plus a meta hash per stream and two
 * sorted sets shared by every instance:
 *
 *   <p>stream:{<runId>:<key>}        XADD entries: `d` = one chunk (a JSON text), `e` = an end marker
 *   <p>stream-meta:{<runId>:<key>}   state (open | ended | finished), endId, bytes, chunks,
 *                                    c:<clientId> = highest chunk index stored for that writer
 *   <p>streams:open                  member <runId>:<key>, score = last sign of life (Redis TIME, ms)
 *   <p>streams:archive               member <runId>:<key>, score = when it may be (re)claimed
 *
 * Every change of state is one Lua script, so a crash of the webapp never leaves a stream half-written:
 * an append writes its chunks, counters, writer index and open-set score together, or nothing. All
 * times come from Redis TIME, never an instance's clock.
 */
import type { Redis } from "ioredis";

export type StreamState = "open" | "ended" | "finished";

/** One Redis entry: a chunk (`data`), or an end marker (`end` = why). */
export interface StreamEntry {
  id: string;
  data?: string;
  end?: string;
}

export interface StreamMeta {
  state: StreamState;
  endId?: string;
  bytes: number;
  chunks: number;
}

export type AppendOutcome =
  | { kind: "ok"; written: number; skipped: number; lastId?: string }
  | { kind: "finished"; written: number }
  | { kind: "too-large"; written: number; cap: "bytes" | "chunks" };

export interface StreamLimits {
  /** 0 = unlimited. */
  maxBytes: number;
  /** 0 = unlimited. */
  maxChunks: number;
  /** Live keys expire this long after their last write (the retention). */
  ttlMs: number;
}

// Appends to many streams in one call (the appends of one event-loop turn: #flushAppends).
// KEYS open, then per append: stream, meta. ARGV per append: member, ttl, maxBytes, maxChunks, clientId
// ('' = none), firstIndex, count, then its `count` chunks. → per append {code, written, skipped, lastId,
// prevId, {id…}}; code 0 ok, -1 the run finished, -2 bytes cap, -3 chunks cap; prevId = the stream's
// last entry before the first chunk written ('' = none), ids = the written chunks' ids (what the
// instance's hub hands its readers at once: streamHub.server.ts). The meta hash keeps the stream's last
// entry id (`last`), so finding prevId costs no XREVRANGE (streams from before it have none: then it does).
// Chunks a writer already stored (index ≤ its c:<clientId>) are skipped, so a retried body is idempotent.
// A cap stops at the first chunk that does not fit; the chunks before it are kept. Appends to the same
// stream in one call run in order, each seeing the one before.
const APPEND_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local replies = {}
local a = 1
for s = 1, (#KEYS - 1) / 2 do
  local streamKey = KEYS[2 * s]
  local metaKey = KEYS[2 * s + 1]
  local member = ARGV[a]
  local ttl = ARGV[a + 1]
  local maxBytes = tonumber(ARGV[a + 2])
  local maxChunks = tonumber(ARGV[a + 3])
  local clientField = nil
  if ARGV[a + 4] ~= '' then clientField = 'c:' .. ARGV[a + 4] end
  local firstIndex = tonumber(ARGV[a + 5])
  local first = a + 7
  local last = first + tonumber(ARGV[a + 6]) - 1
  a = last + 1
  local meta = redis.call('HMGET', metaKey, 'state', 'bytes', 'chunks', 'last', clientField or 'state')
  local state = meta[1]
  if state == 'finished' then
    replies[s] = {-1, 0, 0, '', '', {}}
  else
    local skip = 0
    if clientField then skip = math.max(0, tonumber(meta[5] or '-1') - firstIndex + 1) end
    local bytes = tonumber(meta[2] or '0')
    local chunks = tonumber(meta[3] or '0')
    local code = 0
    local written = 0
    local lastId = ''
    local prevId = ''
    local ids = {}
    for i = first + skip, last do
      local len = string.len(ARGV[i])
      if maxBytes > 0 and bytes + len > maxBytes then code = -2 break end
      if maxChunks > 0 and chunks + 1 > maxChunks then code = -3 break end
      if written == 0 then
        if meta[4] then
          prevId = meta[4]
        else
          local previous = redis.call('XREVRANGE', streamKey, '+', '-', 'COUNT', 1)
          if previous[1] then prevId = previous[1][1] end
        end
      end
      lastId = redis.call('XADD', streamKey, '*', 'd', ARGV[i])
      ids[written + 1] = lastId
      bytes = bytes + len
      chunks = chunks + 1
      written = written + 1
    end
    if written > 0 then
      if clientField then
        redis.call('HSET', metaKey, 'state', 'open', 'bytes', bytes, 'chunks', chunks, 'last', lastId,
          clientField, firstIndex + skip + written - 1)
      else
        redis.call('HSET', metaKey, 'state', 'open', 'bytes', bytes, 'chunks', chunks, 'last', lastId)
      end
      redis.call('PEXPIRE', streamKey, ttl)
    elseif not state then
      redis.call('HSET', metaKey, 'state', 'open', 'bytes', bytes, 'chunks', chunks)
    end
    if written > 0 or not state then
      redis.call('ZADD', KEYS[1], now, member)
      redis.call('PEXPIRE', metaKey, ttl)
    end
    replies[s] = {code, written, skip, lastId, prevId, ids}
  end
end
return replies
`;

// KEYS meta, open; ARGV member, ttl → 1 when created. An ended stream stays ended until a chunk arrives.
const CREATE_LUA = `
local state = redis.call('HGET', KEYS[1], 'state')
if state then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'state', 'open', 'bytes', 0, 'chunks', 0)
redis.call('ZADD', KEYS[2], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`;

// KEYS meta, open; ARGV member → 1 when the open stream's score moved to now (a connected writer).
const TOUCH_LUA = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[2], 'XX', 'CH', now, ARGV[1])
`;

// KEYS stream, meta, open, archive; ARGV member, reason ('idle' | 'finished'), idleBefore (ms), ttl
// → 1 when this call ended the stream. 'idle' ends an open stream only if nothing touched it since
// idleBefore; 'finished' (its run finished) also makes it final: later writes are refused.
const END_LUA = `
local state = redis.call('HGET', KEYS[2], 'state')
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == 'idle' then
  if state ~= 'open' then redis.call('ZREM', KEYS[3], ARGV[1]) return 0 end
  local score = redis.call('ZSCORE', KEYS[3], ARGV[1])
  if score and tonumber(score) > tonumber(ARGV[3]) then return 0 end
end
redis.call('ZREM', KEYS[3], ARGV[1])
if not state or state == 'finished' then return 0 end
if state == 'ended' then
  redis.call('HSET', KEYS[2], 'state', 'finished')
  return 0
end
local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[2])
redis.call('HSET', KEYS[2], 'state', ARGV[2] == 'finished' and 'finished' or 'ended', 'endId', id, 'last', id)
redis.call('ZADD', KEYS[4], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
return 1
`;

// KEYS archive; ARGV member, leaseMs → 1 when this caller may archive now (the lease is its own).
const CLAIM_LUA = `
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(score) > now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
`;

// KEYS stream, meta, archive; ARGV member, graceMs → the stream is archived: readers still connected
// get a grace period, then Redis forgets it. A stream reopened meanwhile keeps its retention TTL.
const ARCHIVED_LUA = `
redis.call('ZREM', KEYS[3], ARGV[1])
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'open' then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
`;

type StoreRedis = Redis & {
  rfStreamAppend(args: (string | number)[]): Promise<AppendReply[]>;
  rfStreamCreate(...args: (string | number)[]): Promise<number>;
  rfStreamTouch(...args: (string | number)[]): Promise<number>;
  rfStreamEnd(...args: (string | number)[]): Promise<number>;
  rfStreamClaim(...args: (string | number)[]): Promise<number>;
  rfStreamArchived(...args: (string | number)[]): Promise<number>;
};

export interface StreamRef {
  /** The run's internal id. */
  runId: string;
  key: string;
}

/** `<runId>:<key>`: the member of the shared sets (run ids never contain a colon). */
export const streamMember = (ref: StreamRef) => `${ref.runId}:${ref.key}`;

export function parseStreamMember(member: string): StreamRef {
  const colon = member.indexOf(":");
  return { runId: member.slice(0, colon), key: member.slice(colon + 1) };
}

/**
 * Appends per call of the append script, and chunks per call (an append with more goes alone): Redis
 * runs one call at a time, so a call this size keeps other clients (readers' XRANGE, the hub's XREAD)
 * waiting a few milliseconds at most.
 */
const APPEND_BATCH = 100;
const APPEND_BATCH_CHUNKS = 2_000;

type AppendReply = [number, number, number, string, string, string[]];

/**
 * Chunks just appended to the stream `streamKey`, with their ids, right after `prevId` (the stream's
 * last entry before them, `0-0` for none).
 */
export type AppendedListener = (streamKey: string, prevId: string, entries: readonly StreamEntry[]) => void;

interface PendingAppend {
  keys: [stream: string, meta: string];
  args: (string | number)[];
  resolve(reply: AppendReply): void;
  reject(error: unknown): void;
}

export class StreamStore {
  readonly #redis: StoreRedis;
  readonly #prefix: string;
  /** Appends issued during one event-loop turn, sent as one pipeline (see #queueAppend). */
  #appends: PendingAppend[] = [];
  /** Append batches sent and not answered yet, each settling once its appends were handed on. */
  readonly #inFlight = new Set<Promise<void>>();
  readonly openSet: string;
  readonly archiveQueue: string;
  readonly #onAppended: AppendedListener | undefined;

  /** `onAppended` hears of every append of this instance once Redis stored it (the hub's local fan-out). */
  constructor(options: { redis: Redis; keyPrefix: string; onAppended?: AppendedListener }) {
    const redis = options.redis as StoreRedis;
    // The number of keys is the call's first argument (one pair per append).
    redis.defineCommand("rfStreamAppend", { lua: APPEND_LUA });
    redis.defineCommand("rfStreamCreate", { numberOfKeys: 2, lua: CREATE_LUA });
    redis.defineCommand("rfStreamTouch", { numberOfKeys: 2, lua: TOUCH_LUA });
    redis.defineCommand("rfStreamEnd", { numberOfKeys: 4, lua: END_LUA });
    redis.defineCommand("rfStreamClaim", { numberOfKeys: 1, lua: CLAIM_LUA });
    redis.defineCommand("rfStreamArchived", { numberOfKeys: 3, lua: ARCHIVED_LUA });
    this.#redis = redis;
    this.#prefix = options.keyPrefix;
    this.#onAppended = options.onAppended;
    this.openSet = `${options.keyPrefix}streams:open`;
    this.archiveQueue = `${options.keyPrefix}streams:archive`;
  }

  get redis(): Redis {
    return this.#redis;
  }

  /** The Redis Stream of `ref` (a hash tag keeps it in one slot with its meta). */
  streamKey(ref: StreamRef): string {
    return `${this.#prefix}stream:{${ref.runId}:${ref.key}}`;
  }

  metaKey(ref: StreamRef): string {
    return `${this.#prefix}stream-meta:{${ref.runId}:${ref.key}}`;
  }

  async create(ref: StreamRef, ttlMs: number): Promise<boolean> {
    return (await this.#redis.rfStreamCreate(this.metaKey(ref), this.openSet, streamMember(ref), ttlMs)) === 1;
  }

  /** Appends chunks (JSON texts) in order. `clientId` + `firstIndex` make a retried body idempotent. */
  async append(
    ref: StreamRef,
    chunks: readonly string[],
    limits: StreamLimits,
    writer?: { clientId: string; firstIndex: number },
  ): Promise<AppendOutcome> {
    const streamKey = this.streamKey(ref);
    const [code, written, skipped, lastId, prevId, ids] = await this.#queueAppend(
      [streamKey, this.metaKey(ref)],
      [
        streamMember(ref),
        limits.ttlMs,
        limits.maxBytes,
        limits.maxChunks,
        writer?.clientId ?? "",
        writer?.firstIndex ?? 0,
        chunks.length,
        ...chunks,
      ],
    );
    if (written > 0 && this.#onAppended) {
      const entries = ids.map((id, i) => ({ id, data: chunks[skipped + i]! }));
      this.#onAppended(streamKey, prevId || "0-0", entries);
    }
    if (code === -1) return { kind: "finished", written };
    if (code === -2) return { kind: "too-large", written, cap: "bytes" };
    if (code === -3) return { kind: "too-large", written, cap: "chunks" };
    return { kind: "ok", written, skipped, lastId: lastId || undefined };
  }

  /**
   * Every writer's body arrives on its own socket, so each read's lines would otherwise cost a script
   * call of their own in Redis (about 35 µs each, most of it the call, not the chunks: ADR 081).
   * Appends queued during one turn of the event loop go out together at its end (setImmediate), as
   * calls of the append script of up to APPEND_BATCH of them each.
   */
  #queueAppend(keys: [string, string], args: (string | number)[]): Promise<AppendReply> {
    return new Promise((resolve, reject) => {
      this.#appends.push({ keys, args, resolve, reject });
      if (this.#appends.length === 1) setImmediate(() => this.#flushAppends());
      else if (this.#appends.length === APPEND_BATCH) this.#flushAppends();
    });
  }

  #flushAppends() {
    const queued = this.#appends;
    this.#appends = [];
    for (let from = 0; from < queued.length; ) {
      // One call's appends: up to APPEND_BATCH of them and about APPEND_BATCH_CHUNKS chunks (at least one).
      let to = from + 1;
      let chunks = queued[from]!.args.length;
      while (to < queued.length && to - from < APPEND_BATCH && chunks + queued[to]!.args.length <= APPEND_BATCH_CHUNKS)
        chunks += queued[to++]!.args.length;
      const batch = queued.slice(from, to);
      from = to;
      // One array argument, never spread into the call: a flood's batch has tens of thousands.
      const command: (string | number)[] = [1 + 2 * batch.length, this.openSet];
      for (const item of batch) command.push(item.keys[0], item.keys[1]);
      for (const item of batch) for (const arg of item.args) command.push(arg);
      const sent = this.#redis.rfStreamAppend(command).then(
        (replies) => {
          batch.forEach((item, i) => {
            const reply = replies[i];
            if (reply) item.resolve(reply);
            else item.reject(new Error("no reply from Redis"));
          });
        },
        (error: unknown) => {
          for (const item of batch) item.reject(error);
        },
      );
      // Settles after the appends' own continuations (queued as the batch resolved) handed the chunks on.
      const settled = sent.then(() => {});
      this.#inFlight.add(settled);
      void settled.then(() => this.#inFlight.delete(settled));
    }
  }

  /**
   * Settles once the appends already sent to Redis have been answered and handed to `onAppended`;
   * undefined when none is in flight. The hub waits for it before its next XREAD, so that read starts
   * after this instance's own chunks (delivered locally) instead of bringing them back a second time.
   */
  appendsSettled(): Promise<unknown> | undefined {
    if (this.#inFlight.size === 0) return undefined;
    return Promise.all(this.#inFlight);
  }

  /** A connected writer's sign of life: keeps an open stream from ending for idleness. */
  touch(ref: StreamRef): Promise<number> {
    return this.#redis.rfStreamTouch(this.metaKey(ref), this.openSet, streamMember(ref));
  }

  /** Ends the stream (see END_LUA); true when this call ended it. */
  async end(ref: StreamRef, reason: "idle" | "finished", idleBeforeMs: number, ttlMs: number): Promise<boolean> {
    const ended = await this.#redis.rfStreamEnd(
      this.streamKey(ref),
      this.metaKey(ref),
      this.openSet,
      this.archiveQueue,
      streamMember(ref),
      reason,
      idleBeforeMs,
      ttlMs,
    );
    return ended === 1;
  }

  /** Takes the archive job of `member` for `leaseMs` (another instance may retry it after). */
  async claimArchive(member: string, leaseMs: number): Promise<boolean> {
    return (await this.#redis.rfStreamClaim(this.archiveQueue, member, leaseMs)) === 1;
  }

  async markArchived(ref: StreamRef, graceMs: number): Promise<void> {
    await this.#redis.rfStreamArchived(
      this.streamKey(ref),
      this.metaKey(ref),
      this.archiveQueue,
      streamMember(ref),
      graceMs,
    );
  }

  async meta(ref: StreamRef): Promise<StreamMeta | undefined> {
    const hash = await this.#redis.hgetall(this.metaKey(ref));
    if (!hash.state) return undefined;
    return {
      state: hash.state as StreamState,
      endId: hash.endId || undefined,
      bytes: Number(hash.bytes ?? 0),
      chunks: Number(hash.chunks ?? 0),
    };
  }

  /** Highest chunk index stored for a writer's client id, -1 for none. */
  async lastChunkIndex(ref: StreamRef, clientId: string): Promise<number> {
    const value = await this.#redis.hget(this.metaKey(ref), `c:${clientId}`);
    return value === null ? -1 : Number(value);
  }

  /** Entries after `afterId` (exclusive), at most `count`. */
  async range(ref: StreamRef, afterId: string, count: number): Promise<StreamEntry[]> {
    const raw = await this.#redis.xrange(this.streamKey(ref), `(${afterId}`, "+", "COUNT", count);
    return raw.map(([id, fields]) => toEntry(id, fields));
  }

  /** The id of the stream's last entry, undefined when the stream has none. */
  async lastId(ref: StreamRef): Promise<string | undefined> {
    const raw = await this.#redis.xrevrange(this.streamKey(ref), "+", "-", "COUNT", 1);
    return raw[0]?.[0];
  }

  async redisTimeMs(): Promise<number> {
    const [seconds, micros] = await this.#redis.time();
    return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
}

export function toEntry(id: string, fields: string[]): StreamEntry {
  // One field per entry: `d` <chunk> or `e` <reason>.
  return fields[0] === "e" ? { id, end: fields[1] ?? "" } : { id, data: fields[1] ?? "" };
}
