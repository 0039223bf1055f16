/**
 * The stream hub's local fan-out (docs/decisions/081-realtime-streams.md): an instance hands the chunks
 * it appended to its own readers at once, and still never skips a chunk another instance appended in
 * between, nor delivers one twice when its XREAD brings them again. Two instances (store + hub each)
 * on one real Redis.
 */
import { Redis } from "ioredis";
import { afterAll, describe, expect, it, vi } from "vitest";
import { testRedisPrefix, testServices } from "@runfeed/devstack/test-context";
import { StreamHub } from "../../app/services/realtime/streams/streamHub.server.js";
import { type StreamEntry, StreamStore } from "../../app/services/realtime/streams/streamStore.server.js";
import { createLogger } from "../../app/services/logger.server.js";

const prefix = testRedisPrefix();
const connections: Redis[] = [];
const hubs: StreamHub[] = [];
const limits = { maxBytes: 0, maxChunks: 0, ttlMs: 60_000 };

function instance() {
  const redis = new Redis(testServices().redisUrl, { enableAutoPipelining: true });
  connections.push(redis);
  const hub = new StreamHub({ redis, logger: createLogger("silent") });
  hubs.push(hub);
  const published = vi.fn();
  const store = new StreamStore({
    redis,
    keyPrefix: prefix,
    onAppended: (key, prevId, entries) => {
      published(key, prevId, entries);
      hub.publish(key, prevId, entries);
    },
  });
  return { hub, store, published };
}

afterAll(async () => {
  await Promise.all(hubs.map((hub) => hub.stop()));
  const keys = await connections[0]!.keys(`${prefix}*`);
  if (keys.length) await connections[0]!.del(...keys);
  for (const redis of connections) redis.disconnect();
});

describe("stream hub local fan-out", () => {
  it("hands this instance's appends over at once, never skipping another instance's chunk in between, never twice", async () => {
    const a = instance();
    const b = instance();
    const ref = { runId: "run_hub", key: "tokens" };
    const streamKey = a.store.streamKey(ref);
    await a.store.append(ref, ['"before"'], limits);
    const seen: StreamEntry[] = [];
    const unwatch = await a.hub.watch(streamKey, (entries) => seen.push(...entries));

    // A's own append follows A's cursor: delivered from the append's reply (the hub gets the ids).
    await a.store.append(ref, ['"a1"', '"a2"'], limits);
    expect(a.published).toHaveBeenLastCalledWith(streamKey, expect.stringMatching(/^\d+-\d+$/), [
      expect.objectContaining({ data: '"a1"' }),
      expect.objectContaining({ data: '"a2"' }),
    ]);
    expect(seen.map((e) => e.data)).toEqual(['"a1"', '"a2"']);

    // B appends, then A again before A's hub has read B's chunk: A's chunk must wait for the XREAD,
    // which brings both, in order.
    await b.store.append(ref, ['"b1"'], limits);
    await a.store.append(ref, ['"a3"'], limits);
    await vi.waitFor(() => expect(seen.map((e) => e.data)).toEqual(['"a1"', '"a2"', '"b1"', '"a3"']));

    // Further appends of A, and a last one of B: every chunk once, in Redis's order.
    await a.store.append(ref, ['"a4"'], limits);
    await b.store.append(ref, ['"b2"'], limits);
    const all = (await a.store.range(ref, "0-0", 100)).slice(1);
    await vi.waitFor(() => expect(seen).toEqual(all));
    expect(seen.map((e) => e.data)).toEqual(['"a1"', '"a2"', '"b1"', '"a3"', '"a4"', '"b2"']);
    unwatch();
  });
});
