/**
 * Initial snapshot (§9.2): REPEATABLE READ READ ONLY transaction, pg_current_snapshot() for the
 * xid filter, rows as Postgres text under the display settings of §9.4, cut into chunks.
 */
import { randomInt } from "node:crypto";
import type pg from "pg";
import { SNAPSHOT_END, rowKey } from "@runfeed/core";
import { DISPLAY_SETTINGS } from "../pg/display-settings.js";
import { quoteIdent } from "../pg/identifiers.js";
import type { CompiledShape } from "./definition.js";

export interface SnapshotInfo {
  xmin: string;
  xmax: string;
  xip: string[];
}

export interface SnapshotResult extends SnapshotInfo {
  /** Number of chunks written; the last one ends with snapshot-end. */
  chunks: number;
}

/** Rows fetched per round trip from the snapshot cursor. */
const FETCH_ROWS = 1_000;

/** Begins the snapshot transaction under the display settings (§9.4), in the same round trip as what follows. */
const BEGIN_SNAPSHOT = [
  "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
  ...DISPLAY_SETTINGS.map((setting) => `SET LOCAL ${setting}`),
].join("; ");

/**
 * The row query of a snapshot: the shape's columns as Postgres text (PK first, deduplicated) and an
 * encoder of one result row into a change message with the given `"headers":{…}` fragment.
 */
function rowQuery(
  shape: CompiledShape,
  where: string | undefined,
  tail = "",
): { sql: string; encode(row: Array<string | null>, headers: string): string } {
  const cols = [...new Set([...shape.pk, ...shape.selected])];
  const byName = new Map(shape.table.columns.map((c) => [c.name, c]));
  const exprs = cols.map((c) =>
    byName.get(c)?.typname === "bpchar" ? `concat(${quoteIdent(c)}, '')` : `${quoteIdent(c)}::text`,
  );
  const sql =
    `SELECT ${exprs.join(", ")} FROM ${quoteIdent(shape.table.schema)}.${quoteIdent(shape.table.table)}` +
    (where ? ` WHERE ${where}` : "") +
    tail;
  const pkIdx = shape.pk.map((c) => cols.indexOf(c));
  const selIdx = shape.selected.map((c) => cols.indexOf(c));
  return {
    sql,
    encode(row, headers) {
      const key = rowKey(
        shape.keyPrefix,
        pkIdx.map((i) => row[i]!),
      );
      let value = "{";
      for (let j = 0; j < selIdx.length; j++) {
        if (j > 0) value += ",";
        value += `${JSON.stringify(shape.selected[j])}:${JSON.stringify(row[selIdx[j]!])}`;
      }
      value += "}";
      return `{"key":${JSON.stringify(key)},"value":${value},${headers}}`;
    },
  };
}

export interface SubsetQuery {
  /** Validated subset where as SQL (params inlined), AND-ed with the shape where. */
  whereSql?: string;
  /** Validated ORDER BY list (quoted identifiers). */
  orderBySql?: string;
  limit?: number;
  offset?: number;
}

export interface SubsetSnapshot {
  metadata: { xmin: string; xmax: string; xip_list: string[]; database_lsn: string; snapshot_mark: number };
  /** Serialized change messages (operation insert, relation, snapshot_mark). */
  rows: string[];
}

/**
 * A subset snapshot (§3.6): its own REPEATABLE READ READ ONLY transaction, pg_current_snapshot() and
 * pg_current_wal_lsn() as metadata, then shape where AND (subset where) with ORDER BY/LIMIT/OFFSET,
 * same columns and value encoding as the initial snapshot. Applies to changes_only shapes too.
 */
export async function takeSubsetSnapshot(pool: pg.Pool, shape: CompiledShape, q: SubsetQuery): Promise<SubsetSnapshot> {
  const client = await pool.connect();
  try {
    const setup = (await client.query(
      `${BEGIN_SNAPSHOT}; SELECT pg_current_snapshot()::text AS snap, ` +
        `(pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn`,
    )) as unknown as Array<{ rows: Array<{ snap?: string; lsn?: string }> }>;
    const first = setup[setup.length - 1]!.rows[0]!;
    const info = parsePgSnapshot(first.snap!);
    const conds = [shape.where ? `(${shape.where.sql})` : undefined, q.whereSql ? `(${q.whereSql})` : undefined].filter(
      Boolean,
    );
    let tail = "";
    if (q.orderBySql) tail += ` ORDER BY ${q.orderBySql}`;
    if (q.limit !== undefined) tail += ` LIMIT ${Math.trunc(q.limit)}`;
    if (q.offset !== undefined) tail += ` OFFSET ${Math.trunc(q.offset)}`;
    const rq = rowQuery(shape, conds.length ? conds.join(" AND ") : undefined, tail);
    const res = await client.query({ text: rq.sql, rowMode: "array" });
    await client.query("COMMIT");
    const snapshotMark = randomInt(0, 2 ** 31 - 1);
    const relation = JSON.stringify([shape.table.schema, shape.table.table]);
    const headers = `"headers":{"operation":"insert","relation":${relation},"snapshot_mark":${snapshotMark}}`;
    return {
      metadata: {
        xmin: info.xmin,
        xmax: info.xmax,
        xip_list: info.xip,
        database_lsn: first.lsn!,
        snapshot_mark: snapshotMark,
      },
      rows: (res.rows as Array<Array<string | null>>).map((r) => rq.encode(r, headers)),
    };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

export function parsePgSnapshot(text: string): SnapshotInfo {
  const [xmin, xmax, xip] = text.split(":");
  return { xmin: xmin!, xmax: xmax!, xip: xip ? xip.split(",").filter(Boolean) : [] };
}

/**
 * Streams the shape's rows through a cursor into chunks of ≥ `chunkBytes` (messages joined by "\n"),
 * handing each chunk to `write` as soon as it is complete, so memory holds one chunk at a time. The
 * last chunk ends with snapshot-end.
 */
export async function takeSnapshot(
  pool: pg.Pool,
  shape: CompiledShape,
  chunkBytes: number,
  write: (index: number, chunk: string) => void,
): Promise<SnapshotResult> {
  const client = await pool.connect();
  try {
    // One round trip: begin, display settings, snapshot.
    const setup = (await client.query(
      `${BEGIN_SNAPSHOT}; SELECT pg_current_snapshot()::text AS snap`,
    )) as unknown as Array<{ rows: Array<{ snap?: string }> }>;
    const info = parsePgSnapshot(setup[setup.length - 1]!.rows[0]!.snap!);
    let chunk: string[] = [];
    let bytes = 0;
    let index = 0;
    // A full chunk is written once the next row arrives: the last chunk must also carry snapshot-end.
    const flush = () => {
      write(index++, chunk.join("\n"));
      chunk = [];
      bytes = 0;
    };
    if (shape.def.log !== "changes_only") {
      const q = rowQuery(shape, shape.where ? `(${shape.where.sql})` : undefined);
      const relation = JSON.stringify([shape.table.schema, shape.table.table]);
      const headers = `"headers":{"operation":"insert","relation":${relation}}`;
      await client.query(`DECLARE shape_snapshot NO SCROLL CURSOR FOR ${q.sql}`);
      for (;;) {
        const res = await client.query({ text: `FETCH FORWARD ${FETCH_ROWS} FROM shape_snapshot`, rowMode: "array" });
        for (const row of res.rows as Array<Array<string | null>>) {
          if (bytes >= chunkBytes) flush();
          const json = q.encode(row, headers);
          chunk.push(json);
          bytes += json.length + 1;
        }
        if (res.rows.length < FETCH_ROWS) break;
      }
    }
    await client.query("COMMIT");
    chunk.push(
      JSON.stringify({ headers: { control: SNAPSHOT_END, xmin: info.xmin, xmax: info.xmax, xip_list: info.xip } }),
    );
    flush();
    return { ...info, chunks: index };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/** 32-bit xid visibility against an xid8 snapshot (§9.2 step 3), modulo 2³². */
export class XidFilter {
  readonly xmin: number;
  readonly xmax: number;
  readonly xip: Set<number>;
  constructor(info: SnapshotInfo) {
    const low = (s: string) => Number(BigInt(s) & 0xffffffffn);
    this.xmin = low(info.xmin);
    this.xmax = low(info.xmax);
    this.xip = new Set(info.xip.map(low));
  }
  private static lt(a: number, b: number): boolean {
    return ((a - b) | 0) < 0;
  }
  visible(xid: number): boolean {
    if (XidFilter.lt(xid, this.xmin)) return true;
    return XidFilter.lt(xid, this.xmax) && !this.xip.has(xid);
  }
  afterSnapshot(xid: number): boolean {
    return !XidFilter.lt(xid, this.xmax);
  }
}
