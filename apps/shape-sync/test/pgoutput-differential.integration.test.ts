/**
 * Our pgoutput decoder against pg-logical-replication's on the same WAL (ADR 033): both decode the
 * binary changes Postgres produced for a mix of types, NULLs, unicode, a TOASTed value left unchanged,
 * a primary key change under REPLICA IDENTITY DEFAULT and FULL, a delete and a truncate. The library
 * turns values into JS types with node-postgres' parsers, so each of our text values is run through
 * the same parser before comparing; text columns compare as they are.
 */
import { randomBytes } from "node:crypto";
import { lsnToBigInt } from "@runfeed/core";
import { createTestDatabase, type TestDatabase } from "@runfeed/devstack/test-context";
import pg from "pg";
import { type Pgoutput, PgoutputPlugin } from "pg-logical-replication";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { completeNewRow } from "../src/shapes/definition.js";
import {
  HAS_UNCHANGED_TOAST,
  PgoutputDecoder,
  type PgoutputMessage,
  type TupleRow,
} from "../src/replication/pgoutput.js";

let db: TestDatabase;
let pool: pg.Pool;
const SLOT = "differential";
const PUBLICATION = "differential_pub";

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  await pool.query(`CREATE TABLE full_t (id int PRIMARY KEY, title text, n int8, f float8, num numeric, ok bool,
    at timestamptz, d date, j jsonb, tags text[], b bytea, u uuid, iv interval, big text)`);
  await pool.query(`ALTER TABLE full_t REPLICA IDENTITY FULL`);
  await pool.query(`CREATE TABLE default_t (id int PRIMARY KEY, title text)`);
  await pool.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE full_t, default_t`);
  await pool.query(`SELECT pg_create_logical_replication_slot('${SLOT}', 'pgoutput')`);
  const big = randomBytes(20_000).toString("base64"); // stored out of line, sent as "unchanged TOAST" when untouched
  await pool.query(
    `INSERT INTO full_t VALUES (1, 'héllo ✓ 😀', 9007199254740993, 0.1, 12345678901234567890.123, true,
      '2024-02-29 23:59:59.123456+00', '2024-01-31', '{"k":"é","n":1.50}', ARRAY['a"b', 'c\\d', NULL, 'NULL'],
      '\\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '1 mon 2 days 03:00:00.5', $1),
      (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    [big],
  );
  await pool.query(`INSERT INTO default_t VALUES (1, 'one'), (2, 'two')`);
  await pool.query(
    `BEGIN; UPDATE full_t SET title = 'changed', n = -1 WHERE id = 1; UPDATE full_t SET id = 3 WHERE id = 2; COMMIT`,
  );
  await pool.query(`UPDATE default_t SET title = 'uno' WHERE id = 1`);
  await pool.query(`UPDATE default_t SET id = 20 WHERE id = 2`);
  await pool.query(`DELETE FROM full_t WHERE id = 3`);
  await pool.query(`DELETE FROM default_t WHERE id = 1`);
  await pool.query(`TRUNCATE default_t`);
});

afterAll(async () => {
  await pool?.query(`SELECT pg_drop_replication_slot('${SLOT}')`).catch(() => undefined);
  await pool?.end();
  await db?.drop();
});

/** The WAL as pgoutput messages: exactly what a replication connection receives in XLogData. */
async function changes(): Promise<Buffer[]> {
  const r = await pool.query<{ data: Buffer }>(
    `SELECT data FROM pg_logical_slot_peek_binary_changes('${SLOT}', NULL, NULL,
       'proto_version', '1', 'publication_names', '${PUBLICATION}')`,
  );
  return r.rows.map((row) => row.data);
}

/** Our text values through the library's parser for each column (null stays null). */
function parsedLike(rel: Pgoutput.MessageRelation, row: TupleRow | undefined): Record<string, unknown> | null {
  if (!row) return null;
  const out: Record<string, unknown> = {};
  for (const col of rel.columns) {
    const text = row[col.name];
    out[col.name] = text === null || text === undefined ? text : col.parser(text);
  }
  return out;
}

const keyOnly = (rel: Pgoutput.MessageRelation, row: Record<string, unknown> | null) =>
  row && Object.fromEntries(rel.keyColumns.map((k) => [k, row[k]]));

describe("pgoutput: ours and pg-logical-replication decode the same WAL alike", () => {
  it("every message: transaction bounds, relations, tuples, truncates", async () => {
    const wal = await changes();
    const ours = new PgoutputDecoder();
    const theirs = new PgoutputPlugin({ protoVersion: 1, publicationNames: [PUBLICATION] });
    const seen: string[] = [];
    let unchangedToast = 0;
    for (const buf of wal) {
      const a: PgoutputMessage = ours.decode(buf);
      const b = theirs.parse(buf) as Pgoutput.Message;
      seen.push(a.tag);
      expect(a.tag).toBe(b.tag);
      if (a.tag === "begin" && b.tag === "begin") {
        expect(a.finalLsn).toBe(lsnToBigInt(b.commitLsn!));
        expect(a.xid).toBe(b.xid >>> 0);
      } else if (a.tag === "commit" && b.tag === "commit") {
        expect([a.commitLsn, a.endLsn]).toEqual([lsnToBigInt(b.commitLsn!), lsnToBigInt(b.commitEndLsn!)]);
      } else if (a.tag === "relation" && b.tag === "relation") {
        expect([a.oid, a.schema, a.table, a.replicaIdentity]).toEqual([
          b.relationOid,
          b.schema,
          b.name,
          b.replicaIdentity[0],
        ]);
        expect(a.columns).toEqual(b.columns.map((c) => ({ name: c.name, typeOid: c.typeOid, flags: c.flags })));
      } else if (a.tag === "insert" && b.tag === "insert") {
        expect(a.oid).toBe(b.relation.relationOid);
        expect(parsedLike(b.relation, a.new)).toEqual(b.new);
      } else if (a.tag === "update" && b.tag === "update") {
        expect(a.oid).toBe(b.relation.relationOid);
        const oldRow = parsedLike(b.relation, a.old);
        if (b.key) expect(keyOnly(b.relation, oldRow)).toEqual(b.key);
        else expect(oldRow).toEqual(b.old);
        // An unchanged TOASTed value: we mark it, the library takes it from the old tuple; filled alike.
        expect(parsedLike(b.relation, completeNewRow(a.old, a.new))).toEqual(b.new);
        if (HAS_UNCHANGED_TOAST.has(a.new)) unchangedToast++;
      } else if (a.tag === "delete" && b.tag === "delete") {
        expect(a.oid).toBe(b.relation.relationOid);
        const oldRow = parsedLike(b.relation, a.old);
        if (b.key) expect(keyOnly(b.relation, oldRow)).toEqual(b.key);
        else expect(oldRow).toEqual(b.old);
      } else if (a.tag === "truncate" && b.tag === "truncate") {
        expect(a.oids).toEqual(b.relations.map((r) => r.relationOid));
      } else throw new Error(`unexpected ${a.tag}/${b.tag}`);
    }
    // The WAL held what the test meant it to: both tables, every kind of change, one unchanged TOAST value.
    expect(new Set(seen)).toEqual(new Set(["begin", "relation", "insert", "update", "delete", "truncate", "commit"]));
    expect(seen.filter((t) => t === "update")).toHaveLength(4);
    expect(unchangedToast).toBe(1);
  });
});
