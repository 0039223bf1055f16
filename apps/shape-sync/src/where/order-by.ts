/**
 * Subset `order_by` (§1.2): a comma list of column references, each with optional ASC/DESC and
 * NULLS FIRST/LAST, parsed with libpg-query and re-emitted with quoted identifiers. `$n` parameters,
 * expressions and subqueries are rejected. Pure apart from the WASM parser (loaded by loadWhereParser).
 */
import type { ParseResult, SortBy } from "@pgsql/types";
import { parseSync } from "libpg-query";
import { quoteIdent } from "../pg/identifiers.js";
import { WhereError, payloadOf, type ColumnType, type Located } from "./types.js";

const PREFIX = "SELECT 1 FROM t ORDER BY ";
const at = (node: Located) => Math.max(0, (node?.location ?? PREFIX.length) - PREFIX.length);

export function compileOrderBy(orderBy: string, columns: ReadonlyMap<string, ColumnType>): string {
  let parsed: ParseResult;
  try {
    parsed = parseSync(PREFIX + orderBy);
  } catch (e) {
    const err = e as { message: string; sqlDetails?: { cursorPosition?: number } };
    throw new WhereError(
      `At location ${Math.max(0, (err.sqlDetails?.cursorPosition ?? PREFIX.length) - PREFIX.length)}: ${err.message}`,
    );
  }
  const stmts = parsed.stmts ?? [];
  if (stmts.length !== 1) throw new WhereError(`At location 0: unescaped ";" causing statement split`);
  const stmt = stmts[0]!.stmt;
  const select = stmt && "SelectStmt" in stmt ? stmt.SelectStmt : undefined;
  if (!select || !Array.isArray(select.sortClause)) throw new WhereError("At location 0: malformed order_by");
  const extra = Object.keys(select).filter(
    (k) => !["targetList", "fromClause", "sortClause", "limitOption", "op"].includes(k),
  );
  if (extra.length > 0) throw new WhereError("At location 0: malformed order_by ending with SQL clauses");
  if (JSON.stringify(select.sortClause).includes('"ParamRef"'))
    throw new WhereError("At location 0: parameters ($n) are not allowed in order_by");
  return select.sortClause
    .map((item) => {
      const s: SortBy | undefined = "SortBy" in item ? item.SortBy : undefined;
      const ref = s?.node && "ColumnRef" in s.node ? s.node.ColumnRef : undefined;
      const field = ref?.fields?.length === 1 ? ref.fields[0] : undefined;
      const name = field && "String" in field ? field.String.sval : undefined;
      if (!s || !ref || name === undefined)
        throw new WhereError(
          `At location ${at(s?.node ? payloadOf(s.node) : undefined)}: order_by supports only column references`,
        );
      if (!columns.has(name)) throw new WhereError(`At location ${at(ref)}: unknown reference ${name}`);
      let sql = quoteIdent(name);
      if (s.sortby_dir === "SORTBY_DESC") sql += " DESC";
      else if (s.sortby_dir === "SORTBY_ASC") sql += " ASC";
      else if (s.sortby_dir !== "SORTBY_DEFAULT")
        throw new WhereError(`At location ${at(ref)}: ORDER BY ... USING is not supported`);
      if (s.sortby_nulls === "SORTBY_NULLS_FIRST") sql += " NULLS FIRST";
      else if (s.sortby_nulls === "SORTBY_NULLS_LAST") sql += " NULLS LAST";
      return sql;
    })
    .join(", ");
}
