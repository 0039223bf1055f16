/**
 * The SDK's write-pipeline batching (docs/decisions/092-write-pipeline.md) against a local HTTP
 * server that records what it receives: flush by size, by age, on flush(), one request per flush per
 * endpoint, each with its own request key.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { pipeline } from "../src/index.js";

describe("pipeline.writer batching", () => {
  let posts: Array<{ url: string; key?: string; body: { items: Array<Record<string, unknown>> }; at: number }>;
  let baseURL: string;
  let close: () => Promise<void>;
  let answer = 202;

  beforeEach(async () => {
    posts = [];
    answer = 202;
    const server = createServer((req, res) => {
      let text = "";
      req.on("data", (chunk) => (text += chunk));
      req.on("end", () => {
        const body = JSON.parse(text);
        posts.push({
          url: req.url!,
          key: req.headers["x-trigger-request-idempotency-key"] as string,
          body,
          at: Date.now(),
        });
        res
          .writeHead(answer, { "content-type": "application/json", "x-should-retry": "false" })
          .end(JSON.stringify(answer === 202 ? { accepted: body.items.length, urgency: "high" } : { error: "no" }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    close = () => new Promise((resolve) => server.close(() => resolve()));
  });
  afterEach(() => close());

  it("sends a full buffer at once: one request with every run's operations as one item each", async () => {
    const writer = pipeline.writer({ baseURL, accessToken: "k", maxItems: 4, maxAgeMs: 60_000 });
    writer.metadata("run_a").increment("n").increment("n", 2);
    writer.metadata("run_b").set("s", 1).parent.increment("done");
    await vi.waitFor(() => expect(posts).toHaveLength(1));
    expect(posts[0]!.url).toBe("/api/v1/metadata/batch");
    expect(posts[0]!.body.items).toEqual([
      {
        runId: "run_a",
        operations: [
          { type: "increment", key: "n", value: 1 },
          { type: "increment", key: "n", value: 2 },
        ],
      },
      {
        runId: "run_b",
        operations: [{ type: "set", key: "s", value: 1 }],
        parentOperations: [{ type: "increment", key: "done", value: 1 }],
      },
    ]);
    expect(writer.buffered).toBe(0);
  });

  it("sends by age, and flush() resolves once both endpoints accepted, each request with its own key", async () => {
    const writer = pipeline.writer({ baseURL, accessToken: "k", maxItems: 100, maxAgeMs: 150 });
    const queuedAt = Date.now();
    writer.log("run_a", { message: "one", level: "warn", attributes: { k: 1 } });
    await vi.waitFor(() => expect(posts).toHaveLength(1));
    expect(posts[0]!.at - queuedAt).toBeGreaterThanOrEqual(100);
    expect(posts[0]!.url).toBe("/api/v1/logs/batch");
    expect(posts[0]!.body.items).toEqual([{ runId: "run_a", message: "one", level: "warn", attributes: { k: 1 } }]);

    writer.log("run_b", { message: "two", time: new Date("2026-01-01T00:00:00Z") });
    writer.metadata("run_b").increment("n");
    await writer.flush();
    expect(posts.map((p) => p.url).sort()).toEqual([
      "/api/v1/logs/batch",
      "/api/v1/logs/batch",
      "/api/v1/metadata/batch",
    ]);
    const second = posts.find((p) => p.body.items[0]?.runId === "run_b" && p.url === "/api/v1/logs/batch");
    expect(second!.body.items[0]).toMatchObject({ time: "2026-01-01T00:00:00.000Z" });
    expect(new Set(posts.map((p) => p.key)).size).toBe(3);
    await writer.flush();
    expect(posts).toHaveLength(3);
  });

  it("flush() rejects when the server refuses, and a size flush reports to onError", async () => {
    answer = 400;
    const errors: unknown[] = [];
    const writer = pipeline.writer({ baseURL, accessToken: "k", maxItems: 1, onError: (e) => errors.push(e) });
    writer.metadata("run_a").increment("n");
    await vi.waitFor(() => expect(errors).toHaveLength(1));
    const other = pipeline.writer({ baseURL, accessToken: "k", maxItems: 100 });
    other.log("run_a", { message: "x" });
    await expect(other.flush()).rejects.toThrow();
  });
});
