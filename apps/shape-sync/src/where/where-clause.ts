/**
 * A where clause (§8), the where folder's entry point: parsed with libpg-query as `SELECT 1 WHERE
 * <where>`, checked to be one boolean expression, compiled (ast-compiler.ts) to a 3-valued evaluator
 * over a row of Postgres text values, plus the SQL used for snapshots, the structural key of shape
 * identity and the hint used by the matching index. Pure apart from the WASM parser.
 */
import type { Node, ParseResult } from "@pgsql/types";
import { loadModule, parseSync } from "libpg-query";
import { AstCompiler } from "./ast-compiler.js";
import { BOOL, PREFIX, WhereError, RowContext, type ColumnType, type IndexHint, type Row } from "./types.js";

export { WhereError, RowContext, type ColumnType, type IndexHint, type Row } from "./types.js";

/**
 * Parse results by query text. Shapes usually share a few where templates and differ by params
 * (`id = $1`), so recovery and request validation parse each template once. The AST is never mutated.
 */
const parseCache = new Map<string, ParseResult>();
const PARSE_CACHE_MAX = 2_000;
function parseCached(sql: string): ParseResult {
  let hit = parseCache.get(sql);
  if (hit === undefined) {
    hit = parseSync(sql);
    if (parseCache.size >= PARSE_CACHE_MAX) parseCache.delete(parseCache.keys().next().value!);
    parseCache.set(sql, hit);
  }
  return hit;
}

const strippedCache = new Map<string, string>();
/** Location-free AST JSON of a where template (cached like the parse). */
function strippedKey(where: string, node: Node): string {
  let k = strippedCache.get(where);
  if (k === undefined) {
    k = JSON.stringify(stripLocations(node));
    if (strippedCache.size >= PARSE_CACHE_MAX) strippedCache.delete(strippedCache.keys().next().value!);
    strippedCache.set(where, k);
  }
  return k;
}

export interface CompiledWhere {
  /** True / false / null (unknown) for one row. Errors evaluate to null. */
  evaluate(row: Row): boolean | null;
  /** The clause as SQL with parameters inlined as literals, for the snapshot query. */
  sql: string;
  /** Location-free structural key (shape identity §1.4). */
  key: string;
  /** The best index hint of the top-level conjunction, if any. */
  hint?: IndexHint;
  /** Columns referenced. */
  columns: Set<string>;
}

let loaded: Promise<void> | undefined;
export function loadWhereParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

function stripLocations(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripLocations);
  if (node && typeof node === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node))
      if (k !== "location" && !k.startsWith("rexpr_list")) out[k] = stripLocations(v);
    return out;
  }
  return node;
}

const quoteLiteral = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Parses and validates a where clause against the table's columns.
 * `params` are 1-based positional values (`params[1]` = $1).
 */
export function compileWhere(
  where: string,
  columns: ReadonlyMap<string, ColumnType>,
  params: ReadonlyArray<string> = [],
  options: { evaluatedInProcess?: boolean } = {},
): CompiledWhere {
  let parsed: ParseResult;
  try {
    parsed = parseCached(PREFIX + where);
  } catch (e) {
    const err = e as { message: string; sqlDetails?: { cursorPosition?: number } };
    const pos = err.sqlDetails?.cursorPosition ?? 0;
    throw new WhereError(`At location ${pos}: ${err.message}`);
  }
  const stmts = parsed.stmts ?? [];
  if (stmts.length !== 1) throw new WhereError(`At location 0: unescaped ";" causing statement split`);
  const stmt = stmts[0]!.stmt;
  const select = stmt && "SelectStmt" in stmt ? stmt.SelectStmt : undefined;
  if (!select || !select.whereClause) throw new WhereError("At location 0: malformed query");
  const extra = Object.keys(select).filter((k) => !["targetList", "whereClause", "limitOption", "op"].includes(k));
  if (extra.length > 0) throw new WhereError("At location 0: malformed query ending with SQL clauses");

  const compiler = new AstCompiler(columns, params, options.evaluatedInProcess ?? true);
  const usedParams = compiler.usedParams;
  const referenced = compiler.referenced;
  const root = compiler.compile(select.whereClause);
  const rootBool = root.type === "unknown" ? compiler.coerce(root, BOOL, undefined) : root;
  if (rootBool.type === "unknown" || rootBool.type.base !== "bool" || rootBool.type.dims !== 0)
    throw new WhereError("At location 0: WHERE clause must return a boolean");

  // Inline the parameters as quoted literals (unknown-typed, like a bind parameter).
  const spots = [...usedParams.entries()].flatMap(([i, locs]) => locs.map((l) => ({ ...l, value: params[i - 1]! })));
  spots.sort((a, b) => b.location - a.location);
  let sql = where;
  for (const s of spots) sql = sql.slice(0, s.location) + quoteLiteral(s.value) + sql.slice(s.location + s.length);

  const used = [...usedParams.keys()].sort((a, b) => a - b).map((i) => [i, params[i - 1]]);
  const hints = rootBool.hints ?? [];
  const hint = hints.find((h) => h.kind === "eq") ?? hints[0];
  const evaluate = rootBool.eval;
  return {
    evaluate(row: Row): boolean | null {
      try {
        return evaluate(new RowContext(row, columns)) as boolean | null;
      } catch {
        // A value Postgres would reject (ValueParseError) is NULL, like a row the clause cannot hold for.
        // Anything else is an evaluator bug: still NULL, because a throw here would stop replication
        // for every shape (the transaction is retried forever); the differential tests catch these.
        return null;
      }
    },
    sql,
    key: strippedKey(where, select.whereClause) + JSON.stringify(used),
    hint,
    columns: referenced,
  };
}
