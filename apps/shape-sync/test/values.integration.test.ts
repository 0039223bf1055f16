/**
 * Values arrive exactly as Postgres prints them (§9.3), through the snapshot and through replication:
 * a 20 KB incompressible text that an update leaves untouched (stored out of line: pgoutput sends it
 * as "unchanged TOAST"), arrays with quotes, backslashes and the string NULL, jsonb with unicode,
 * bytea; for updates (replica default and full) and for a row moving into a shape.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  h = await createHarness({ longPollTimeoutMs: 2_000 });
  await h.pool.query(`CREATE TABLE vals (id int PRIMARY KEY, k int, big text, arr text[], j jsonb, b bytea)`);
  await h.pool.query(
    `INSERT INTO vals VALUES (1, 0, $1, ARRAY['a"b', 'c\\d', 'NULL', NULL, '', ' x ', 'é,{}'], '{"k":"é😀\\n","n":1.50}', '\\x00ff10')`,
    [randomBytes(20_000).toString("base64")],
  );
});
afterAll(async () => h?.close());

const printed = async () =>
  (await h.pool.query(`SELECT id::text, k::text, big, arr::text, j::text, b::text FROM vals WHERE id = 1`))
    .rows[0] as Record<string, string>;

describe("values", () => {
  it.each([
    ["replica=full", undefined],
    ["replica=default", undefined],
    ["replica=full", "k > 0"],
    ["replica=default", "k > 0"],
  ])(
    "%s where %s: snapshot, then an update of another column, rebuild the row Postgres prints",
    async (replica, where) => {
      await h.pool.query(`UPDATE vals SET k = 0 WHERE id = 1`);
      const base = `${h.server.url}/v1/shape?table=vals&${replica}${where ? `&where=${encodeURIComponent(where)}` : ""}`;
      const first = await fetchJson(`${base}&offset=-1`);
      const live = fetchJson(
        `${base}&offset=${first.headers.get("electric-offset")}&handle=${first.headers.get("electric-handle")}&live=true`,
      );
      await h.pool.query(`UPDATE vals SET k = k + 1 WHERE id = 1`);
      const update = await live;
      const row: Record<string, string | null> = {};
      for (const m of [...first.body, ...update.body] as Array<{ value?: Record<string, string | null> }>)
        Object.assign(row, m.value);
      // A where shape starts empty and receives the row as an insert: every column, the big one included.
      expect(row).toEqual(await printed());
    },
  );
});
