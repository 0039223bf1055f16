/**
 * Request parameters → compiled shape definition (§1.2, §1.4): table, columns and where validated
 * against the catalog, every problem a 400 naming its parameter. Compiled definitions are cached by
 * the request's parameters, so live requests skip catalog lookups and parsing.
 */
import { createHash } from "node:crypto";
import type { TableInfo } from "../pg/catalog.js";
import { IdentifierError, parseColumnList, parseRelation } from "../pg/identifiers.js";
import { compileShape, type CompiledShape, type ShapeDefinition } from "../shapes/definition.js";
import type { ShapeCatalog } from "../shapes/shape-catalog.js";
import { WhereError } from "../where/where-clause.js";
import { InvalidRequestError } from "./errors.js";
import type { DefinitionParams } from "./params.js";

const CACHE_MAX = 20_000;

export class ShapeResolver {
  /** Request definition (hashed) → compiled shape. */
  private readonly cache = new Map<string, CompiledShape>();

  constructor(
    private readonly catalog: Pick<ShapeCatalog, "getByKey" | "compiledShapes">,
    private readonly lookupTable: (schema: string, table: string) => Promise<TableInfo | undefined>,
  ) {
    // After a restart, requests with the parameters that created a shape resolve without recompiling it.
    for (const c of catalog.compiledShapes()) if (c.requestKey) this.remember(c.requestKey, c);
  }

  /**
   * Whether `compiled` (a known shape's) was made from exactly these request parameters. A request
   * naming a known handle with them is served from the shape itself, with no catalog lookup, as Electric
   * does: a shape whose table was dropped keeps being served to the clients holding its handle (its log
   * simply stops growing) instead of failing on the missing relation.
   */
  madeFrom(p: DefinitionParams, compiled: CompiledShape): boolean {
    return compiled.requestKey !== undefined && compiled.requestKey === requestKey(p);
  }

  /** Resolves table, columns and where into a compiled shape, or throws a 400. */
  async resolve(p: DefinitionParams): Promise<CompiledShape> {
    const key = requestKey(p);
    const hit = this.cache.get(key);
    if (hit) return hit;
    const fresh = await this.compile(p);
    // After a restart the catalog already holds a compiled copy (from recovery): share it.
    const compiled = this.catalog.getByKey(fresh.key)?.compiled ?? fresh;
    compiled.requestKey ??= key;
    this.remember(key, compiled);
    return compiled;
  }

  /** Forgets compiled definitions (a table changed). */
  clear(): void {
    this.cache.clear();
  }

  private remember(key: string, compiled: CompiledShape): void {
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, compiled);
  }

  private async compile(p: DefinitionParams): Promise<CompiledShape> {
    const info = await this.table(p.table);
    const def: ShapeDefinition = {
      schema: info.schema,
      table: info.table,
      columns: p.columns === undefined ? undefined : selectedColumns(p.columns, info),
      where: p.where,
      params: p.where ? p.params : undefined,
      replica: p.replica,
      log: p.log,
    };
    try {
      return compileShape(def, info);
    } catch (e) {
      if (e instanceof WhereError) throw InvalidRequestError.field("where", e.message);
      throw e;
    }
  }

  private async table(name: string): Promise<TableInfo> {
    let rel: { schema: string; table: string };
    try {
      rel = parseRelation(name);
    } catch (e) {
      throw InvalidRequestError.field("table", (e as Error).message);
    }
    const info = await this.lookupTable(rel.schema, rel.table);
    if (!info)
      throw InvalidRequestError.field(
        "table",
        `Table "${rel.schema}"."${rel.table}" does not exist. ` +
          "If the table name contains capitals or special characters you must quote it.",
      );
    return info;
  }
}

/** The request's definition parameters, hashed. */
function requestKey(p: DefinitionParams): string {
  return createHash("sha1")
    .update(JSON.stringify([p.table, p.where, p.where ? p.params : null, p.columns, p.replica, p.log]))
    .digest("base64");
}

/** The `columns` parameter checked against the table: known, not generated, every PK column included. */
function selectedColumns(text: string, info: TableInfo): string[] {
  const fail = (message: string) => InvalidRequestError.field("columns", message);
  let columns: string[];
  try {
    columns = text.trim() === "" ? [] : parseColumnList(text);
  } catch (e) {
    if (e instanceof IdentifierError) throw fail(e.message);
    throw e;
  }
  if (columns.length === 0) throw fail("The list of columns must not be empty");
  const names = new Set(info.columns.map((c) => c.name));
  const unknown = columns.filter((c) => !names.has(c));
  if (unknown.length) throw fail(`The following columns are not found on the table: ${unknown.join(", ")}`);
  const missing = info.columns.filter((c) => c.pkIndex !== undefined && !columns.includes(c.name)).map((c) => c.name);
  if (missing.length)
    throw fail(`The list of columns must include all primary key columns, missing: ${missing.join(", ")}`);
  const generated = info.columns.filter((c) => c.generated && columns.includes(c.name)).map((c) => c.name);
  if (generated.length)
    throw fail(`The following columns are generated and cannot be included in the shape: ${generated.join(", ")}`);
  return columns;
}
