import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { collapseOperations, metadata } from "../src/index.js";

describe("collapseOperations (contract §6.4)", () => {
  it("sums consecutive increments of a key and keeps the last of consecutive sets/deletes", () => {
    expect(
      collapseOperations([
        { type: "increment", key: "n", value: 2 },
        { type: "increment", key: "n", value: 3 },
        { type: "increment", key: "m", value: 1 },
        { type: "set", key: "s", value: 1 },
        { type: "set", key: "s", value: 2 },
        { type: "delete", key: "d" },
        { type: "delete", key: "d" },
      ]),
    ).toEqual([
      { type: "increment", key: "n", value: 5 },
      { type: "increment", key: "m", value: 1 },
      { type: "set", key: "s", value: 2 },
      { type: "delete", key: "d" },
    ]);
  });

  it("keeps order and everything that is not a neighbour of the same kind", () => {
    const ops = [
      { type: "set", key: "a", value: 1 },
      { type: "append", key: "log", value: "x" },
      { type: "append", key: "log", value: "x" },
      { type: "set", key: "a", value: 2 },
      { type: "remove", key: "log", value: "x" },
      { type: "update", value: { fresh: true } },
    ] as const;
    expect(collapseOperations([...ops])).toEqual(ops);
  });
});

describe("metadata.forRun batching (against a local HTTP server)", () => {
  let puts: Array<{ url: string; authorization?: string; body: Record<string, unknown>; at: number }>;
  let baseURL: string;
  let close: () => Promise<void>;

  beforeEach(async () => {
    puts = [];
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk) => (text += chunk));
      req.on("end", () => {
        const body = JSON.parse(text) as Record<string, unknown>;
        puts.push({ url: req.url!, authorization: req.headers.authorization, body, at: Date.now() });
        res
          .writeHead(200, { "content-type": "application/json" })
          .end(JSON.stringify({ metadata: { seen: puts.length } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterEach(() => close());

  it("sends queued operations together after the interval, in one PUT with the three lists", async () => {
    const m = metadata.forRun("run_1", { baseURL, accessToken: "tr_dev_secret", flushIntervalMs: 200 });
    const queuedAt = Date.now();
    m.set("progress", 0.1).set("progress", 0.2).increment("n", 1).increment("n", 2);
    m.parent.increment("processed", 5);
    m.root.append("events", "child done");
    await vi.waitFor(() => expect(puts).toHaveLength(1));
    expect(puts[0]!.at - queuedAt).toBeGreaterThanOrEqual(150);
    expect(puts[0]!.url).toBe("/api/v1/runs/run_1/metadata");
    expect(puts[0]!.authorization).toBe("Bearer tr_dev_secret");
    expect(puts[0]!.body).toEqual({
      operations: [
        { type: "set", key: "progress", value: 0.2 },
        { type: "increment", key: "n", value: 3 },
      ],
      parentOperations: [{ type: "increment", key: "processed", value: 5 }],
      rootOperations: [{ type: "append", key: "events", value: "child done" }],
    });
    // The server records the PUT before its answer reaches the client: wait for the answer to land.
    await vi.waitFor(() => expect(m.current).toEqual({ seen: 1 }));
  });

  it("flush() sends at once, and sends nothing when nothing is queued", async () => {
    const m = metadata.forRun("run_2", { baseURL, accessToken: "k", flushIntervalMs: 60_000 });
    expect(await m.flush()).toBeUndefined();
    expect(puts).toHaveLength(0);
    m.del("old");
    expect(await m.flush()).toEqual({ seen: 1 });
    expect(puts).toHaveLength(1);
    m.increment("x").stop();
    await metadata.flush();
    expect(puts).toHaveLength(1);
  });
});
