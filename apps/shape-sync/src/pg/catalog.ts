/** Table metadata from the Postgres catalog: columns, types, primary key, `electric-schema` (§9.5). */
import type pg from "pg";
import { columnSchemaOf, type ShapeSchema } from "@runfeed/core";
import { baseOfTypname } from "../where/values.js";
import type { ColumnType } from "../where/where-clause.js";
import { collationOrdersByCodePoint } from "../where/collation.js";

export interface ColumnInfo {
  name: string;
  attnum: number;
  typeOid: number;
  typname: string;
  /** Element type name for arrays, else typname. */
  elemTypname: string;
  dims: number;
  notNull: boolean;
  typmod: number;
  generated: boolean;
  isEnum: boolean;
  pkIndex?: number;
  /**
   * Effective collation of a collatable (text-like) column: its pg_collation name, or the database's
   * locale for the default collation.
   */
  collation?: string;
  /** True when the column uses the database default collation. */
  collationIsDefault?: boolean;
  /** True when the effective collation orders text by code point (C, POSIX, C.UTF-8, ucs_basic, builtin). */
  codePointOrder?: boolean;
  /** False for a nondeterministic (ICU) collation, where equal is not byte-equal. */
  deterministic?: boolean;
}

export interface TableInfo {
  oid: number;
  schema: string;
  table: string;
  columns: ColumnInfo[];
  /** PK column names in index order; all columns when the table has no PK (§3.2). */
  pk: string[];
  /** Stable signature of the column list, compared with pgoutput Relation messages. */
  signature: string;
  /** The database default collation (text constants use it). */
  defaultCollation?: { name: string; codePointOrder: boolean };
}

export const relationSignature = (cols: ReadonlyArray<{ name: string; typeOid: number }>) =>
  cols.map((c) => `${c.name}:${c.typeOid}`).join(",");

export async function lookupTable(
  db: pg.Pool | pg.Client,
  schema: string,
  table: string,
): Promise<TableInfo | undefined> {
  // datlocprovider exists from PG15; the ICU/builtin locale column is daticulocale (15, 16) or datlocale (17+).
  const rel = await db.query<{ oid: number; datcollate: string; datlocprovider: string; datlocale: string | null }>(
    `SELECT c.oid::int AS oid, d.datcollate::text AS datcollate, d.datlocprovider::text AS datlocprovider,
            coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale') AS datlocale
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, pg_database d
     WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND d.datname = current_database()`,
    [schema, table],
  );
  const oid = rel.rows[0]?.oid;
  if (oid === undefined) return undefined;
  const cols = await db.query<{
    attname: string;
    attnum: number;
    atttypid: number;
    typname: string;
    elemname: string | null;
    basename: string | null;
    attndims: number;
    attnotnull: boolean;
    atttypmod: number;
    attgenerated: string;
    typtype: string;
    elemtyptype: string | null;
    pkpos: number | null;
    collname: string | null;
    collprovider: string | null;
    collcollate: string | null;
    collisdeterministic: boolean | null;
  }>(
    `SELECT a.attname, a.attnum::int AS attnum, a.atttypid::int AS atttypid, t.typname, et.typname AS elemname,
            bt.typname AS basename, a.attndims::int AS attndims, a.attnotnull, a.atttypmod::int AS atttypmod,
            a.attgenerated::text AS attgenerated,
            t.typtype::text AS typtype, et.typtype::text AS elemtyptype, co.collname::text AS collname,
            co.collprovider::text AS collprovider, co.collcollate::text AS collcollate, co.collisdeterministic,
            (SELECT array_position(i.indkey::int2[], a.attnum) - array_lower(i.indkey::int2[], 1)
             FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary)::int AS pkpos
     FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
     LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
     LEFT JOIN pg_type bt ON bt.oid = t.typbasetype AND t.typtype = 'd' AND bt.typcategory <> 'A'
     LEFT JOIN pg_collation co ON co.oid = a.attcollation
     WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
    [oid],
  );
  const d = rel.rows[0]!;
  const dbName = (d.datlocprovider === "c" ? d.datcollate : d.datlocale) ?? d.datcollate;
  const defaultCollation = { name: dbName, codePointOrder: collationOrdersByCodePoint(d.datlocprovider, dbName) };
  const columns: ColumnInfo[] = cols.rows.map((r) => {
    const isArray = r.elemname !== null;
    const isDefault = r.collprovider === "d";
    const coll =
      r.collname === null
        ? {}
        : isDefault
          ? {
              collation: defaultCollation.name,
              collationIsDefault: true,
              codePointOrder: defaultCollation.codePointOrder,
              deterministic: true,
            }
          : {
              collation: r.collname,
              collationIsDefault: false,
              codePointOrder: collationOrdersByCodePoint(r.collprovider!, r.collcollate ?? r.collname),
              deterministic: r.collisdeterministic !== false,
            };
    return {
      name: r.attname,
      attnum: r.attnum,
      typeOid: r.atttypid,
      typname: r.typname,
      // A domain over a scalar type is evaluated as its base type (values compare like it, CHECKs aside).
      elemTypname: isArray ? r.elemname! : (r.basename ?? r.typname),
      dims: isArray ? Math.max(1, r.attndims) : 0,
      notNull: r.attnotnull,
      typmod: r.atttypmod,
      generated: r.attgenerated !== "" && r.attgenerated !== null,
      isEnum: (isArray ? r.elemtyptype : r.typtype) === "e",
      pkIndex: r.pkpos ?? undefined,
      ...coll,
    };
  });
  const pkCols = columns.filter((c) => c.pkIndex !== undefined).sort((a, b) => a.pkIndex! - b.pkIndex!);
  return {
    oid,
    schema,
    table,
    columns,
    pk: (pkCols.length > 0 ? pkCols : columns).map((c) => c.name),
    signature: relationSignature(columns),
    defaultCollation,
  };
}

export function shapeSchema(info: TableInfo, selected: ReadonlyArray<string>): ShapeSchema {
  const out: ShapeSchema = {};
  const byName = new Map(info.columns.map((c) => [c.name, c]));
  for (const name of selected) out[name] = columnSchemaOf(byName.get(name)!);
  return out;
}

export function columnTypes(info: TableInfo): Map<string, ColumnType> {
  const collation = (c: ColumnInfo): Partial<ColumnType> =>
    c.collation === undefined
      ? {}
      : {
          collation: c.collation,
          collationIsDefault: c.collationIsDefault,
          codePointOrder: c.codePointOrder,
          deterministic: c.deterministic,
        };
  const dbDefault = info.defaultCollation ? { defaultCollation: info.defaultCollation } : {};
  return new Map(
    info.columns.map((c) => [
      c.name,
      {
        base: baseOfTypname(c.elemTypname, c.isEnum),
        dims: c.dims,
        name: c.elemTypname,
        ...collation(c),
        ...dbDefault,
      },
    ]),
  );
}
