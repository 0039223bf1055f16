/**
 * Subset snapshots (§3.6): the subset where and order_by validated like a shape where, rows from their
 * own snapshot transaction with `snapshot_mark`, not merged into the log. Live/SSE flags are ignored
 * and the response is never revalidated (no etag).
 */
import type { ServerResponse } from "node:http";
import {
  CACHE_CONTROL_NO_CACHE,
  ELECTRIC_HANDLE_HEADER,
  ELECTRIC_OFFSET_HEADER,
  ELECTRIC_SCHEMA_HEADER,
  ELECTRIC_SNAPSHOT_HEADER,
  formatOffset,
} from "@runfeed/core";
import type pg from "pg";
import { shapeSchema } from "../pg/catalog.js";
import { typesFor, type CompiledShape } from "../shapes/definition.js";
import type { Shape } from "../shapes/shape.js";
import type { ShapeCatalog } from "../shapes/shape-catalog.js";
import { takeSubsetSnapshot, type SubsetQuery } from "../shapes/snapshot.js";
import { compileWhere, WhereError } from "../where/where-clause.js";
import { compileOrderBy } from "../where/order-by.js";
import { InvalidRequestError, isPgUserError, mustRefetch } from "./errors.js";
import type { SubsetParams } from "./params.js";

export interface SubsetDeps {
  catalog: Pick<ShapeCatalog, "getByHandle" | "getOrCreate">;
  /** Connections for the subset's snapshot query. */
  pool: pg.Pool;
}

export async function serveSubset(
  deps: SubsetDeps,
  res: ServerResponse,
  compiled: CompiledShape,
  handle: string | undefined,
  subset: SubsetParams,
): Promise<void> {
  const query = subsetQuery(compiled, subset);
  // The shape itself: a handle that no longer matches the definition is a 409 like any read.
  let shape: Shape;
  if (handle !== undefined) {
    const known = deps.catalog.getByHandle(handle);
    if (!known || known.compiled.key !== compiled.key || known.state !== "active")
      return mustRefetch(deps.catalog, compiled);
    shape = known;
  } else shape = await deps.catalog.getOrCreate(compiled);

  // The shape's latest offset, read before the snapshot starts: every change after it is either
  // visible in the snapshot (the client filters it by key + xid) or still to come — a safe resume point.
  const resumeOffset = formatOffset(shape.latest);
  let snapshot: Awaited<ReturnType<typeof takeSubsetSnapshot>>;
  try {
    snapshot = await takeSubsetSnapshot(deps.pool, shape.compiled, query);
  } catch (e) {
    if (isPgUserError(e)) throw InvalidRequestError.subsetField("where", e.message);
    throw e;
  }
  res.setHeader(ELECTRIC_HANDLE_HEADER, shape.handle);
  res.setHeader(ELECTRIC_OFFSET_HEADER, resumeOffset);
  res.setHeader(ELECTRIC_SCHEMA_HEADER, JSON.stringify(shapeSchema(shape.compiled.table, shape.compiled.selected)));
  res.setHeader(ELECTRIC_SNAPSHOT_HEADER, "true");
  res.setHeader("cache-control", CACHE_CONTROL_NO_CACHE);
  res.setHeader("content-type", "application/json; charset=utf-8");
  res.statusCode = 200;
  res.end(`{"metadata":${JSON.stringify(snapshot.metadata)},"data":[${snapshot.rows.join(",")}]}`);
}

/** The subset where and order_by as SQL, or a 400 under `errors.subset.<field>`. */
function subsetQuery(compiled: CompiledShape, subset: SubsetParams): SubsetQuery {
  const types = typesFor(compiled.table);
  const validated = (field: string, compile: () => string): string => {
    try {
      return compile();
    } catch (e) {
      if (e instanceof WhereError) throw InvalidRequestError.subsetField(field, e.message);
      throw e;
    }
  };
  return {
    // Only Postgres evaluates a subset where, so text ordering under any collation is fine there.
    whereSql:
      subset.where === undefined
        ? undefined
        : validated(
            "where",
            () => compileWhere(subset.where!, types, subset.params, { evaluatedInProcess: false }).sql,
          ),
    orderBySql:
      subset.orderBy === undefined ? undefined : validated("order_by", () => compileOrderBy(subset.orderBy!, types)),
    limit: subset.limit,
    offset: subset.offset,
  };
}
