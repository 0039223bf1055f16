/**
 * The stream store's batched appends (docs/decisions/081-realtime-streams.md): the appends issued in
 * one event-loop turn go to Redis as one call of the append script for many streams, and each keeps its
 * own outcome — caps, a finished run, a writer's client id — as if it had been called alone. Real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { testRedisPrefix, testServices } from "@runfeed/devstack/test-context";
import { StreamStore } from "../../app/services/realtime/streams/streamStore.server.js";

const prefix = testRedisPrefix();
const redis = new Redis(testServices().redisUrl, { enableAutoPipelining: true });
const open = { maxBytes: 0, maxChunks: 0, ttlMs: 60_000 };

afterAll(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const data = async (store: StreamStore, ref: { runId: string; key: string }) =>
  (await store.range(ref, "0-0", 100)).map((entry) => entry.data ?? `end:${entry.end}`);

describe("stream store: one append call for many streams", () => {
  it("keeps each stream's caps, finished state, client-id dedup, order and previous id within one batch", async () => {
    const appended: Array<{ key: string; prevId: string; ids: string[] }> = [];
    const store = new StreamStore({
      redis,
      keyPrefix: prefix,
      onAppended: (key, prevId, entries) => appended.push({ key, prevId, ids: entries.map((e) => e.id) }),
    });
    const plain = { runId: "run_batch", key: "plain" };
    const capped = { runId: "run_batch", key: "capped" };
    const finished = { runId: "run_batch", key: "finished" };
    const retried = { runId: "run_batch", key: "retried" };
    const ended = { runId: "run_batch", key: "ended" };

    // Set-up, each on its own: a finished stream, a writer's first two chunks, a stream ended idle.
    await store.append(finished, ['"f0"'], open);
    await store.end(finished, "finished", Date.now(), 60_000);
    await store.append(retried, ['"r0"', '"r1"'], open, { clientId: "w", firstIndex: 0 });
    await store.append(ended, ['"e0"'], open);
    await store.end(ended, "idle", Number.MAX_SAFE_INTEGER, 60_000);
    const endMarker = await store.lastId(ended);
    appended.length = 0;

    // One turn: every append below goes to Redis in one script call.
    const [p1, c, f, r, p2, e] = await Promise.all([
      store.append(plain, ['"p0"', '"p1"'], open),
      store.append(capped, ['"c0"', '"c1"', '"c2"'], { ...open, maxChunks: 2 }),
      store.append(finished, ['"f1"'], open),
      store.append(retried, ['"r1"', '"r2"'], open, { clientId: "w", firstIndex: 1 }),
      store.append(plain, ['"p2"'], open),
      store.append(ended, ['"e1"'], open),
    ]);

    expect(p1).toMatchObject({ kind: "ok", written: 2, skipped: 0 });
    expect(c).toEqual({ kind: "too-large", written: 2, cap: "chunks" });
    expect(f).toEqual({ kind: "finished", written: 0 });
    expect(r).toMatchObject({ kind: "ok", written: 1, skipped: 1 });
    expect(p2).toMatchObject({ kind: "ok", written: 1, skipped: 0 });
    expect(e).toMatchObject({ kind: "ok", written: 1 });

    expect(await data(store, plain)).toEqual(['"p0"', '"p1"', '"p2"']);
    expect(await data(store, capped)).toEqual(['"c0"', '"c1"']);
    expect(await data(store, finished)).toEqual(['"f0"', "end:finished"]);
    expect(await data(store, retried)).toEqual(['"r0"', '"r1"', '"r2"']);
    expect(await store.lastChunkIndex(retried, "w")).toBe(2);
    expect(await data(store, ended)).toEqual(['"e0"', "end:idle", '"e1"']);
    expect(await store.meta(ended)).toMatchObject({ state: "open", chunks: 2 });

    // Each append's previous id is the entry before its first chunk, even for two appends to the same
    // stream in one call, and after an end marker: what the hub's local fan-out relies on.
    const byKey = (ref: { runId: string; key: string }) => appended.filter((a) => a.key === store.streamKey(ref));
    const [first, second] = byKey(plain);
    expect(first!.prevId).toBe("0-0");
    expect(second!.prevId).toBe(first!.ids.at(-1));
    expect(byKey(ended)[0]!.prevId).toBe(endMarker);
    const retriedIds = (await store.range(retried, "0-0", 100)).map((entry) => entry.id);
    expect(byKey(retried)[0]).toEqual({ key: store.streamKey(retried), prevId: retriedIds[1], ids: [retriedIds[2]] });
  });

  it("takes a flood's turn (200 appends of 1,000 chunks) in several calls, every chunk stored in order", async () => {
    const store = new StreamStore({ redis, keyPrefix: prefix });
    const refs = Array.from({ length: 200 }, (_, i) => ({ runId: "run_flood", key: `s${i}` }));
    const lines = Array.from({ length: 1_000 }, (_, i) => `{"i":${i}}`);
    const outcomes = await Promise.all(refs.map((ref) => store.append(ref, lines, open)));
    expect(outcomes.every((o) => o.kind === "ok" && o.written === 1_000)).toBe(true);
    for (const ref of [refs[0]!, refs[199]!]) expect(await data(store, ref)).toEqual(lines.slice(0, 100));
    expect(await store.meta(refs[123]!)).toMatchObject({ state: "open", chunks: 1_000 });
  });
});
