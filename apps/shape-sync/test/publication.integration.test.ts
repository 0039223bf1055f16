/** The publication covers the tables that have shapes: added on demand, dropped once unused (§9.1). */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { publicationName } from "../src/replication/names.js";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness({ unpublishDelayMs: 100, longPollTimeoutMs: 2_000 });
  for (const t of ["pub_a", "pub_b"]) {
    await h.pool.query(`CREATE TABLE ${t} (id int PRIMARY KEY, v text)`);
    await h.pool.query(`INSERT INTO ${t} VALUES (1, 'one'), (2, 'two')`);
  }
});
afterAll(async () => h?.close());

async function publishedTables(): Promise<string[]> {
  const r = await h.pool.query<{ tablename: string }>(
    `SELECT tablename FROM pg_publication_tables WHERE pubname = $1 AND tablename LIKE 'pub\\_%' ORDER BY 1`,
    [publicationName(h.streamId)],
  );
  return r.rows.map((x) => x.tablename);
}

const shape = async (table: string, where: string) => {
  const r = await fetchJson(`${h.server.url}/v1/shape?table=${table}&offset=-1&where=${encodeURIComponent(where)}`);
  expect(r.status).toBe(200);
  return { handle: r.headers.get("electric-handle")!, offset: r.headers.get("electric-offset")!, where };
};
const drop = async (handle: string) => {
  const r = await fetch(`${h.server.url}/v1/shape?handle=${handle}`, { method: "DELETE" });
  expect(r.status).toBeLessThan(300);
};

describe("publication", () => {
  it("adds a table with its first shape and drops it a while after its last one; a new shape adds it back and streams", async () => {
    const a1 = await shape("pub_a", "id = 1");
    const a2 = await shape("pub_a", "id = 2");
    const b1 = await shape("pub_b", "id = 1");
    expect(await publishedTables()).toEqual(["pub_a", "pub_b"]);

    // pub_b loses its only shape, pub_a one of two: only pub_b leaves the publication.
    await drop(b1.handle);
    await drop(a1.handle);
    await vi.waitFor(async () => expect(await publishedTables()).toEqual(["pub_a"]), { timeout: 5_000, interval: 25 });
    expect(h.server.registry()!.catalog.getByHandle(a2.handle)?.state).toBe("active");

    // A new shape on pub_b publishes it again and sees live changes.
    const again = await shape("pub_b", "id = 2");
    expect(await publishedTables()).toEqual(["pub_a", "pub_b"]);
    const live = fetchJson(
      `${h.server.url}/v1/shape?table=pub_b&handle=${again.handle}&offset=${again.offset}&live=true&where=${encodeURIComponent(again.where)}`,
    );
    await h.pool.query(`UPDATE pub_b SET v = 'changed' WHERE id = 2`);
    const r = await live;
    expect(r.status).toBe(200);
    expect(r.body.filter((m: any) => m.value).map((m: any) => m.value.v)).toEqual(["changed"]);
  });
});
