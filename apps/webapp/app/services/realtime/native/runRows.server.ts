/**
 * The native feed's reads (docs/decisions/073-realtime-notifier-backend.md): run rows (and a run's log
 * rows, docs/decisions/090-run-logs.md) as the shape server sends them — every streamed column as Postgres text under the protocol's display settings
 * (docs/protocol/electric.md §9.3–9.4) — and the table's `electric-schema` from the catalog (§9.5).
 *
 * Its own small pool, whose sessions start with the display settings, so no other reader's session
 * is changed. `queries` counts the statements it ran (the coalescing test and the bench read it).
 */
import {
  type CatalogColumn,
  columnSchemaOf,
  RUN_LOG_STREAM_COLUMNS,
  RUN_STREAM_COLUMNS,
  type ShapeSchema,
} from "@runfeed/core";
import pg from "pg";

export type RunRow = Record<string, string | null>;

const DISPLAY_OPTIONS = [
  "-c bytea_output=hex",
  "-c DateStyle=ISO,DMY",
  "-c TimeZone=UTC",
  "-c extra_float_digits=1",
  "-c IntervalStyle=iso_8601",
].join(" ");

const SELECTED = RUN_STREAM_COLUMNS.map((c) => `"${c}"::text AS "${c}"`).join(", ");
const BY_ID = `SELECT ${SELECTED} FROM "TaskRun" WHERE "runtimeEnvironmentId" = $1 AND "id" = $2`;
const BY_BATCH = `SELECT ${SELECTED} FROM "TaskRun" WHERE "runtimeEnvironmentId" = $1 AND "batchId" = $2
  ORDER BY "createdAt" DESC, "id" DESC LIMIT $3`;
// All the tags (AND, realtime contract §3.3), through the GIN index on "runTags".
const BY_TAGS = `SELECT ${SELECTED} FROM "TaskRun" WHERE "runtimeEnvironmentId" = $1 AND "runTags" @> $2::text[]
  AND "createdAt" > $3::timestamp ORDER BY "createdAt" DESC, "id" DESC LIMIT $4`;
const BY_ENVIRONMENT = `SELECT ${SELECTED} FROM "TaskRun" WHERE "runtimeEnvironmentId" = $1
  AND "createdAt" > $2::timestamp ORDER BY "createdAt" DESC, "id" DESC LIMIT $3`;

const LOG_SELECTED = RUN_LOG_STREAM_COLUMNS.map((c) => `"${c}"::text AS "${c}"`).join(", ");
// One statement, one snapshot: its xmin (the horizon), whether rows of the run are visible at or past
// it (committed, not final yet), and the final rows from the offset on, in commit order.
const LOGS_AFTER = `WITH h AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS txid)
  SELECT h.txid::text AS "$horizon", EXISTS (SELECT 1 FROM "TaskRunLog" p WHERE p."runtimeEnvironmentId" = $1
      AND p."runId" = $2 AND p."txid" >= h.txid)::text AS "$pending", l.*
  FROM h LEFT JOIN LATERAL (SELECT ${LOG_SELECTED}, "txid" AS "$txid", "time" AS "$time", "seq" AS "$seq"
    FROM "TaskRunLog" WHERE "runtimeEnvironmentId" = $1 AND "runId" = $2 AND "txid" >= $3 AND "txid" < h.txid) l ON true
  ORDER BY l."$txid", l."$time", l."$seq", l."id"`;
const LOG_INTERNAL = ["$horizon", "$pending", "$txid", "$time", "$seq"];

const CATALOG = `SELECT a.attname AS name, t.typname, et.typname AS elemname, bt.typname AS basename,
    a.attndims::int AS attndims, a.attnotnull, a.atttypmod::int AS atttypmod,
    (SELECT array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1)
     FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary)::int AS pkpos
  FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
  LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
  LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd' AND bt.typcategory <> 'A'
  WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`;

/** A `timestamp` text value (`2026-06-06 10:00:00.12`, UTC) in epoch ms. */
export function timestampMs(text: string | null | undefined): number {
  if (!text) return 0;
  return Date.parse(`${text.replace(" ", "T")}Z`);
}

/** A run's final log rows from an offset on, and the horizon the next read starts at. */
export interface LogRead {
  rows: RunRow[];
  horizon: bigint;
  /** Rows of the run are committed past the horizon: final once the older transactions end. */
  pending: boolean;
}

export class RunRows {
  readonly #pool: pg.Pool;
  readonly #schemas = new Map<string, Promise<ShapeSchema>>();
  queries = 0;

  constructor(options: { databaseUrl: string; poolSize?: number }) {
    this.#pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 4,
      options: DISPLAY_OPTIONS,
    });
    this.#pool.on("error", () => {});
  }

  async byId(environmentId: string, runId: string): Promise<RunRow | undefined> {
    return (await this.#query(BY_ID, [environmentId, runId]))[0];
  }

  byBatch(environmentId: string, batchId: string, limit: number): Promise<RunRow[]> {
    return this.#query(BY_BATCH, [environmentId, batchId, limit]);
  }

  /** Runs carrying every tag (none: the whole environment) created after `floor`, newest first. */
  byTags(environmentId: string, tags: readonly string[], floor: Date, limit: number): Promise<RunRow[]> {
    const at = floor.toISOString().replace(/Z$/, "");
    return tags.length === 0
      ? this.#query(BY_ENVIRONMENT, [environmentId, at, limit])
      : this.#query(BY_TAGS, [environmentId, tags, at, limit]);
  }

  /** A run's log rows stored by transactions in [from, horizon), in commit order (from 0: all of them). */
  async logsAfter(environmentId: string, runId: string, from: bigint): Promise<LogRead> {
    const result = await this.#query(LOGS_AFTER, [environmentId, runId, from.toString()]);
    const first = result[0]!;
    const read: LogRead = { rows: [], horizon: BigInt(first.$horizon!), pending: first.$pending === "true" };
    for (const row of result) {
      if (row.id === null) continue;
      for (const name of LOG_INTERNAL) delete row[name];
      read.rows.push(row);
    }
    return read;
  }

  /** The `electric-schema` of `columns` of "TaskRun" (the catalog is read once). */
  schema(columns: readonly string[]): Promise<ShapeSchema> {
    return this.#schemaOf("TaskRun", RUN_STREAM_COLUMNS, columns);
  }

  /** The `electric-schema` of the log feed's columns. */
  logSchema(): Promise<ShapeSchema> {
    return this.#schemaOf("TaskRunLog", RUN_LOG_STREAM_COLUMNS, RUN_LOG_STREAM_COLUMNS);
  }

  async #schemaOf(table: string, streamed: readonly string[], columns: readonly string[]): Promise<ShapeSchema> {
    let read = this.#schemas.get(table);
    if (!read) {
      read = this.#readSchema(table, streamed).catch((error) => {
        this.#schemas.delete(table);
        throw error;
      });
      this.#schemas.set(table, read);
    }
    const all = await read;
    const schema: ShapeSchema = {};
    for (const column of columns) if (all[column]) schema[column] = all[column];
    return schema;
  }

  close(): Promise<void> {
    return this.#pool.end();
  }

  async #query(text: string, values: unknown[]): Promise<RunRow[]> {
    this.queries++;
    const result = await this.#pool.query<RunRow>(text, values);
    return result.rows;
  }

  async #readSchema(table: string, streamed: readonly string[]): Promise<ShapeSchema> {
    this.queries++;
    const { rows } = await this.#pool.query<{
      name: string;
      typname: string;
      elemname: string | null;
      basename: string | null;
      attndims: number;
      attnotnull: boolean;
      atttypmod: number;
      pkpos: number | null;
    }>(CATALOG, [`"${table}"`]);
    const byName = new Map(rows.map((r) => [r.name, r]));
    const schema: ShapeSchema = {};
    for (const name of streamed) {
      const r = byName.get(name);
      if (!r) throw new Error(`column "${table}"."${name}" not found`);
      const isArray = r.elemname !== null;
      const column: CatalogColumn = {
        typname: r.typname,
        elemTypname: isArray ? r.elemname! : (r.basename ?? r.typname),
        dims: isArray ? Math.max(1, r.attndims) : 0,
        notNull: r.attnotnull,
        typmod: r.atttypmod,
        pkIndex: r.pkpos ?? undefined,
      };
      schema[name] = columnSchemaOf(column);
    }
    return schema;
  }
}
