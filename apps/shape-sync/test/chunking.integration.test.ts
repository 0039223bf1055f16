/** Chunked logs (§4.1): snapshot chunks 0_i and big transactions split into ≤ threshold responses. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, fetchJson, sseMessages, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;
beforeAll(async () => {
  h = await createHarness({ chunkBytesThreshold: 2_000 });
  await h.pool.query(`CREATE TABLE big (id int PRIMARY KEY, pad text NOT NULL)`);
  await h.pool.query(`INSERT INTO big SELECT g, repeat('x', 50) FROM generate_series(1, 60) g`);
});
afterAll(async () => h?.close());

describe("chunking", () => {
  it("walks snapshot chunks and a large transaction in bounded responses, nothing missed or doubled", async () => {
    const url = (q: string) => `${h.server.url}/v1/shape?table=big&${q}`;
    const first = await fetchJson(url("offset=-1"));
    const handle = first.headers.get("electric-handle")!;
    expect(first.headers.get("electric-offset")).toBe("0_0");
    const seen: string[] = first.body.filter((m: any) => m.key).map((m: any) => m.key);
    let offset = first.headers.get("electric-offset")!;
    const offsets = [offset];
    let sizes: number[] = [JSON.stringify(first.body).length];
    for (;;) {
      const r = await fetchJson(url(`offset=${offset}&handle=${handle}`));
      seen.push(...r.body.filter((m: any) => m.key).map((m: any) => m.key));
      offset = r.headers.get("electric-offset")!;
      offsets.push(offset);
      sizes.push(JSON.stringify(r.body).length);
      if (r.headers.get("electric-up-to-date") === "") break;
    }
    expect(offsets.slice(0, 3)).toEqual(["0_0", "0_1", "0_2"]);
    expect(new Set(seen).size).toBe(60);
    expect(seen).toHaveLength(60);
    expect(Math.max(...sizes)).toBeLessThan(4_000);

    await h.pool.query(`UPDATE big SET pad = repeat('y', 50)`);
    const changed: string[] = [];
    sizes = [];
    for (;;) {
      const r = await fetchJson(url(`offset=${offset}&handle=${handle}&live=true`));
      changed.push(...r.body.filter((m: any) => m.key).map((m: any) => m.key));
      sizes.push(JSON.stringify(r.body).length);
      offset = r.headers.get("electric-offset")!;
      if (changed.length >= 60 && r.headers.get("electric-up-to-date") === "") break;
    }
    expect(changed).toHaveLength(60);
    expect(new Set(changed).size).toBe(60);
    expect(sizes.length).toBeGreaterThan(1);
    expect(Math.max(...sizes)).toBeLessThan(4_000);
  });
});

describe("chunking over SSE", () => {
  it("a transaction larger than one chunk reaches an open SSE stream whole, without waiting for another change", async () => {
    await h.pool.query(`CREATE TABLE big_sse (id int PRIMARY KEY, pad text NOT NULL)`);
    await h.pool.query(`INSERT INTO big_sse VALUES (1, 'x')`);
    const url = (q: string) => `${h.server.url}/v1/shape?table=big_sse&${q}`;
    const first = await fetchJson(url("offset=-1"));
    const handle = first.headers.get("electric-handle")!;
    const offset = first.headers.get("electric-offset")!;
    const ac = new AbortController();
    const res = await fetch(url(`offset=${offset}&handle=${handle}&live=true&live_sse=true`), { signal: ac.signal });
    expect(res.status).toBe(200);
    await h.pool.query(`INSERT INTO big_sse SELECT g, repeat('y', 50) FROM generate_series(2, 61) g`);
    const seen = new Set<string>();
    // Up-to-date only once the whole transaction is out (clients publish on it and resume after its lsn).
    const upToDateAt: number[] = [];
    for await (const messages of sseMessages(res)) {
      for (const msg of messages) {
        if (msg.key) seen.add(msg.key);
        if (msg.headers?.control === "up-to-date") upToDateAt.push(seen.size);
      }
      if (upToDateAt.length > 0) break;
    }
    ac.abort();
    expect(seen.size).toBe(60);
    expect(upToDateAt).toEqual([60]);
  });
});
