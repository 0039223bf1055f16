/**
 * A shape definition (§1.4) and the pure conversion of one replicated change into the shape's
 * log messages (§3.2): projection, replica mode, where-membership conversion, PK changes.
 */
import {
  relationKeyPrefix,
  rowKey,
  type ChangeHeaders,
  type ChangeMessage,
  type LogMode,
  type Operation,
  type ReplicaMode,
} from "@runfeed/core";
import type { TableInfo } from "../pg/catalog.js";
import { columnTypes } from "../pg/catalog.js";
import { createHash } from "node:crypto";
import { compileWhere, type ColumnType, type CompiledWhere } from "../where/where-clause.js";
import { HAS_UNCHANGED_TOAST, type TupleRow } from "../replication/pgoutput.js";

/** What is persisted and compared. */
export interface ShapeDefinition {
  schema: string;
  table: string;
  /** Selected columns in table order; undefined = all. */
  columns?: string[];
  where?: string;
  params?: string[];
  replica: ReplicaMode;
  log: LogMode;
}

export interface CompiledShape {
  def: ShapeDefinition;
  key: string;
  table: TableInfo;
  selected: string[];
  selectedSet: Set<string>;
  allColumns: boolean;
  where?: CompiledWhere;
  keyPrefix: string;
  pk: string[];
  pkSelected: string[];
  relation: [string, string];
  /** Hash of the first request parameters that resolved to this definition (set by the HTTP layer). */
  requestKey?: string;
}

interface Projection {
  selected: string[];
  selectedSet: Set<string>;
  pkSelected: string[];
  allColumns: boolean;
  keyPrefix: string;
  relation: [string, string];
}

/** Projections and column-type maps are shared by every shape with the same table version and column list. */
const projections = new Map<string, Projection>();
const typeMaps = new Map<string, Map<string, ColumnType>>();

function projectionFor(table: TableInfo, selected: string[]): Projection {
  const key = `${table.oid}:${table.signature}:${table.pk.join(",")}:${selected.join(",")}`;
  let p = projections.get(key);
  if (!p) {
    p = {
      selected,
      selectedSet: new Set(selected),
      pkSelected: table.pk.filter((c) => selected.includes(c)),
      allColumns: selected.length === table.columns.length,
      keyPrefix: relationKeyPrefix(table.schema, table.table),
      relation: [table.schema, table.table],
    };
    projections.set(key, p);
  }
  return p;
}

export function typesFor(table: TableInfo): Map<string, ColumnType> {
  // Collations are part of the key: ALTER COLUMN … COLLATE keeps the type (and the signature).
  const key = `${table.oid}:${table.signature}:${table.columns.map((c) => c.collation ?? "").join(",")}`;
  let m = typeMaps.get(key);
  if (!m) typeMaps.set(key, (m = columnTypes(table)));
  return m;
}

export function compileShape(def: ShapeDefinition, table: TableInfo): CompiledShape {
  const allNames = table.columns.map((c) => c.name);
  const chosen = def.columns
    ? allNames.filter((n) => def.columns!.includes(n))
    : allNames.filter((n) => !table.columns.find((c) => c.name === n)!.generated);
  const where = def.where !== undefined ? compileWhere(def.where, typesFor(table), def.params ?? []) : undefined;
  const proj = projectionFor(table, chosen);
  const identity = JSON.stringify([
    table.oid,
    table.schema,
    table.table,
    table.pk,
    where?.key ?? null,
    proj.selected,
    def.columns ? 1 : 0,
    def.replica,
    def.log,
  ]);
  const key = createHash("sha256").update(identity).digest("base64");
  return {
    def: def.columns ? { ...def, columns: proj.selected } : def,
    key,
    table,
    ...proj,
    // Keep only what evaluation and snapshots need (the AST key and column set are not retained).
    where: where
      ? { evaluate: where.evaluate, sql: where.sql, hint: where.hint, key: "", columns: EMPTY_SET }
      : undefined,
    pk: table.pk,
  };
}

const EMPTY_SET: Set<string> = new Set();

export interface ChangeInput {
  kind: Operation;
  old?: TupleRow;
  new?: TupleRow;
}

const pick = (row: TupleRow, cols: Iterable<string>): Record<string, string | null> => {
  const out: Record<string, string | null> = {};
  for (const c of cols) out[c] = row[c] ?? null;
  return out;
};

const keyOf = (shape: CompiledShape, row: TupleRow) =>
  rowKey(
    shape.keyPrefix,
    shape.pk.map((c) => row[c] ?? null),
  );

function matches(shape: CompiledShape, row: TupleRow | undefined): boolean {
  if (!row) return false;
  if (!shape.where) return true;
  return shape.where.evaluate(row) === true;
}

/** Fills unchanged-TOAST (undefined) values of the new tuple from the old one. */
export function completeNewRow(oldRow: TupleRow | undefined, newRow: TupleRow): TupleRow {
  if (!HAS_UNCHANGED_TOAST.has(newRow)) return newRow;
  let out = newRow;
  for (const k in newRow) {
    if (newRow[k] === undefined) {
      if (out === newRow) out = { ...newRow };
      out[k] = oldRow?.[k] ?? null;
    }
  }
  return out;
}

function header(shape: CompiledShape, operation: Operation, op: number, lsn: string, xid: number): ChangeHeaders {
  return { operation, relation: shape.relation, lsn, op_position: op, txids: [xid] };
}

function insertMsg(shape: CompiledShape, row: TupleRow, op: number, lsn: string, xid: number): ChangeMessage {
  return { key: keyOf(shape, row), value: pick(row, shape.selected), headers: header(shape, "insert", op, lsn, xid) };
}

function deleteMsg(shape: CompiledShape, row: TupleRow, op: number, lsn: string, xid: number): ChangeMessage {
  const cols = shape.def.replica === "full" ? shape.selected : shape.pk;
  return { key: keyOf(shape, row), value: pick(row, cols), headers: header(shape, "delete", op, lsn, xid) };
}

/**
 * Log messages for one change, or [] when the shape is not affected. `opIndex` is 2k for the k-th
 * change of the transaction (the insert half of a PK change is 2k+1); it is each message's `op_position`.
 */
export function convertChange(
  shape: CompiledShape,
  change: ChangeInput,
  opIndex: number,
  lsn: string,
  xid: number,
): ChangeMessage[] {
  if (change.kind === "insert")
    return matches(shape, change.new) ? [insertMsg(shape, change.new!, opIndex, lsn, xid)] : [];
  if (change.kind === "delete")
    return matches(shape, change.old) ? [deleteMsg(shape, change.old!, opIndex, lsn, xid)] : [];

  const full = shape.def.replica === "full";
  const oldRow = change.old;
  const newRow = completeNewRow(oldRow, change.new!);
  const oldIn = matches(shape, oldRow);
  const newIn = matches(shape, newRow);
  if (!oldIn && !newIn) return [];
  if (!oldIn) return [insertMsg(shape, newRow, opIndex, lsn, xid)];
  if (!newIn) return [deleteMsg(shape, oldRow!, opIndex, lsn, xid)];

  const oldKey = keyOf(shape, oldRow!);
  const newKey = keyOf(shape, newRow);
  if (oldKey !== newKey) {
    const del = deleteMsg(shape, oldRow!, opIndex, lsn, xid);
    del.headers.key_change_to = newKey;
    const ins = insertMsg(shape, newRow, opIndex + 1, lsn, xid);
    ins.headers.key_change_from = oldKey;
    return [del, ins];
  }
  const changed: string[] = [];
  for (const c of shape.selected) if ((oldRow![c] ?? null) !== (newRow[c] ?? null)) changed.push(c);
  if (changed.length === 0 && shape.allColumns && !shape.where) {
    // No column changed at all (e.g. UPDATE SET x = x): nothing to send.
    let any = false;
    for (const k in newRow) if ((oldRow![k] ?? null) !== (newRow[k] ?? null)) any = true;
    if (!any) return [];
  }
  const value = full ? pick(newRow, shape.selected) : pick(newRow, [...shape.pkSelected, ...changed]);
  const msg: ChangeMessage = { key: newKey, value, headers: header(shape, "update", opIndex, lsn, xid) };
  if (full && changed.length > 0) msg.old_value = pick(oldRow!, changed);
  return [msg];
}
