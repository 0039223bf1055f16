/**
 * Collations against a real database (§8): text ordering under a linguistic column collation is
 * refused (Postgres and the in-process evaluator would disagree), `COLLATE "C"` is the way out and
 * keeps snapshot and live changes in agreement, equality is unaffected.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;
/** A linguistic collation available in this server ("en-x-icu" when built with ICU, else a libc en_US one). */
let linguistic: string | undefined;

beforeAll(async () => {
  h = await createHarness({ longPollTimeoutMs: 2_000 });
  const r = await h.pool.query<{ collname: string }>(
    `SELECT collname FROM pg_collation
     WHERE collname IN ('en-x-icu', 'en_US.utf8', 'en_US.UTF-8', 'en_US') AND collencoding IN (-1, pg_char_to_encoding(current_setting('server_encoding')))
     ORDER BY collname = 'en-x-icu' DESC, collname LIMIT 1`,
  );
  linguistic = r.rows[0]?.collname;
  if (!linguistic) return;
  await h.pool.query(`CREATE TABLE words (id int PRIMARY KEY, t text COLLATE "${linguistic}", d text)`);
  await h.pool.query(
    `INSERT INTO words VALUES (1, 'A', 'A'), (2, 'a', 'a'), (3, 'B', 'B'), (4, 'b', 'b'), (5, 'c', 'c')`,
  );
});
afterAll(async () => h?.close());

const shapeUrl = (q: string) => `${h.server.url}/v1/shape?${q}`;
const whereUrl = (where: string) => shapeUrl(`table=words&offset=-1&where=${encodeURIComponent(where)}`);
const ids = (body: any[]) =>
  body
    .filter((m) => m.value)
    .map((m) => Number(m.value.id))
    .sort((a, b) => a - b);

describe("text collations", () => {
  it("rejects ordering by a linguistic column collation with 400 and the reason", async (ctx) => {
    if (!linguistic) return ctx.skip("no ICU or libc en_US collation in this Postgres build");
    const r = await fetchJson(whereUrl("t < 'b'"));
    expect(r.status).toBe(400);
    expect(r.body.errors.where[0]).toBe(
      `At location 2: ordering text by collation "${linguistic}" is not supported (only C / C.UTF-8 / POSIX / ucs_basic collations order text by code point); compare with = or cast the column: "t" COLLATE "C"`,
    );
    // Postgres itself orders this column differently from code point order: that is why.
    const pgOrder = await h.pool.query(`SELECT id FROM words WHERE t < 'b' ORDER BY id`);
    const cOrder = await h.pool.query(`SELECT id FROM words WHERE t COLLATE "C" < 'b' ORDER BY id`);
    expect(pgOrder.rows.map((x) => x.id)).not.toEqual(cOrder.rows.map((x) => x.id));
    expect((await fetchJson(whereUrl(`t COLLATE "en_US" < 'b'`))).body.errors.where[0]).toMatch(
      /COLLATE "en_US" is not supported/,
    );
  });

  it("a subset where may order by a linguistic collation: only Postgres evaluates it", async (ctx) => {
    if (!linguistic) return ctx.skip("no ICU or libc en_US collation in this Postgres build");
    const r = await fetchJson(
      shapeUrl(
        `table=words&offset=-1&subset__where=${encodeURIComponent("t < 'b'")}&subset__order_by=id&subset__limit=10`,
      ),
    );
    expect(r.status).toBe(200);
    const expected = await h.pool.query(`SELECT id FROM words WHERE t < 'b' ORDER BY id`);
    expect(r.body.data.map((m: any) => Number(m.value.id))).toEqual(expected.rows.map((x) => x.id));
  });

  it('COLLATE "C" matches the snapshot and live changes by code point, like Postgres', async (ctx) => {
    if (!linguistic) return ctx.skip("no ICU or libc en_US collation in this Postgres build");
    const r = await fetchJson(whereUrl(`t COLLATE "C" < 'b'`));
    expect(r.status).toBe(200);
    const expected = await h.pool.query(`SELECT id FROM words WHERE t COLLATE "C" < 'b' ORDER BY id`);
    expect(ids(r.body)).toEqual(expected.rows.map((x) => x.id));
    expect(ids(r.body)).toEqual([1, 2, 3]);

    const handle = r.headers.get("electric-handle")!;
    const offset = r.headers.get("electric-offset")!;
    const live = fetchJson(
      shapeUrl(
        `table=words&offset=${offset}&handle=${handle}&live=true&where=${encodeURIComponent(`t COLLATE "C" < 'b'`)}`,
      ),
    );
    await h.pool.query(`INSERT INTO words VALUES (6, 'Z', 'Z'), (7, 'z', 'z')`);
    const l = await live;
    expect(l.status).toBe(200);
    expect(ids(l.body)).toEqual([6]);
  });

  it("equality on the linguistic column, and ordering on the code-point default collation, work", async (ctx) => {
    if (!linguistic) return ctx.skip("no ICU or libc en_US collation in this Postgres build");
    const eq = await fetchJson(whereUrl(`t = 'b'`));
    expect(eq.status).toBe(200);
    expect(ids(eq.body)).toEqual([4]);
    const db = await h.pool.query<{ datcollate: string; datlocprovider: string }>(
      `SELECT datcollate, datlocprovider::text FROM pg_database WHERE datname = current_database()`,
    );
    const codePointDefault =
      db.rows[0]!.datlocprovider === "b" ||
      (db.rows[0]!.datlocprovider === "c" && /^(C|POSIX|C\.utf-?8)$/i.test(db.rows[0]!.datcollate));
    const d = await fetchJson(whereUrl(`d < 'b'`));
    if (codePointDefault) {
      expect(d.status).toBe(200);
      const expected = await h.pool.query(`SELECT id FROM words WHERE d < 'b' ORDER BY id`);
      expect(ids(d.body)).toEqual(expected.rows.map((x) => x.id));
      expect(ids(d.body)).toContain(3); // 'B' < 'b' by code point
    } else {
      expect(d.status).toBe(400);
      expect(d.body.errors.where[0]).toMatch(/ordering text by collation/);
    }
  });
});
