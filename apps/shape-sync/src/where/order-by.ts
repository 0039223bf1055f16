/**
 * Subset `order_by` (§1.2): a comma list of column references, each with optional ASC/DESC and
 * NULLS FIRST/LAST, parsed with libpg-query and re-emitted with quoted identifiers. `$n` parameters,
 * expressions and subqueries are rejected. Pure apart from the WASM parser (loaded by loadWhereParser).
 */
import { parseSync } from "libpg-query";
import { quoteIdent } from "../pg/identifiers.js";
import { WhereError, type ColumnType } from "./types.js";

const PREFIX = "SELECT 1 FROM t ORDER BY ";
const at = (node: any) => Math.max(0, ((node?.location as number | undefined) ?? PREFIX.length) - PREFIX.length);

export function compileOrderBy(orderBy: string, columns: ReadonlyMap<string, ColumnType>): string {
  let parsed: any;
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
  const select = stmts[0].stmt?.SelectStmt;
  if (!select || !Array.isArray(select.sortClause)) throw new WhereError("At location 0: malformed order_by");
  const extra = Object.keys(select).filter(
    (k) => !["targetList", "fromClause", "sortClause", "limitOption", "op"].includes(k),
  );
  if (extra.length > 0) throw new WhereError("At location 0: malformed order_by ending with SQL clauses");
  if (JSON.stringify(select.sortClause).includes('"ParamRef"'))
    throw new WhereError("At location 0: parameters ($n) are not allowed in order_by");
  return select.sortClause
    .map((item: any) => {
      const s = item.SortBy;
      const ref = s?.node?.ColumnRef;
      const fields = ref?.fields as any[] | undefined;
      if (!ref || !fields || fields.length !== 1 || fields[0].String?.sval === undefined)
        throw new WhereError(`At location ${at(s?.node ?? ref)}: order_by supports only column references`);
      const name = fields[0].String.sval as string;
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
