/**
 * Text collations in where clauses (§8). In-process evaluation compares text by code point, which
 * matches Postgres only under a code-point collation (C, POSIX, C.UTF-8, ucs_basic, the builtin
 * provider). Collations are derived like Postgres does (explicit COLLATE > non-default implicit column
 * collation > database default; conflicting implicit ones are indeterminate), and text comparisons
 * whose result would depend on a linguistic or nondeterministic collation are rejected at compile time.
 */
import { typeLabel, type PgType } from "./values.js";
import type { CollateClause, Node } from "@pgsql/types";
import type { AstCompiler } from "./ast-compiler.js";
import { TEXT, payloadOf, type Collation, type ColumnType, type Located, type Typed } from "./types.js";

const CODE_POINT_LOCALE = /^(c|posix|c\.utf-?8)$/i;

/**
 * Whether a collation orders by code point, from its provider (pg_collation.collprovider /
 * pg_database.datlocprovider) and locale.
 */
export function collationOrdersByCodePoint(provider: string, locale: string | null): boolean {
  if (provider === "b") return true; // builtin: C, C.UTF-8 (PG17), PG_UNICODE_FAST (PG18) all sort by code point
  if (provider === "c" || provider === "d") return locale !== null && CODE_POINT_LOCALE.test(locale);
  return false; // ICU
}

/** Collations accepted in `expr COLLATE "…"`: all order by code point. */
const CODE_POINT_COLLATIONS = new Set(["C", "POSIX", "C.utf8", "C.UTF-8", "ucs_basic", "pg_c_utf8"]);
const SUPPORTED = `only "C", "POSIX", "C.utf8", "ucs_basic", "pg_c_utf8" or "default" are supported`;
const ORDERING_OPS = new Set(["<", ">", "<=", ">="]);
const HINT = "(only C / C.UTF-8 / POSIX / ucs_basic collations order text by code point)";

/** The database default collation as the column map knows it (absent: assume code point order). */
function databaseDefault(columns: ReadonlyMap<string, ColumnType>): Collation {
  let name = "default";
  let codePointOrder = true;
  for (const t of columns.values()) {
    if (t.defaultCollation)
      return {
        name: t.defaultCollation.name,
        derivation: "default",
        codePointOrder: t.defaultCollation.codePointOrder,
        deterministic: true,
      };
    if (t.collationIsDefault && t.collation !== undefined)
      ({ name, codePointOrder } = { name: t.collation, codePointOrder: t.codePointOrder !== false });
  }
  return { name, derivation: "default", codePointOrder, deterministic: true };
}

function columnCollation(t: ColumnType | undefined): Collation | undefined {
  if (
    !t ||
    t.base !== "text" ||
    (t.collation === undefined && t.codePointOrder === undefined && t.deterministic === undefined)
  )
    return undefined;
  return {
    name: t.collation ?? "default",
    derivation: t.collationIsDefault ? "default" : "implicit",
    codePointOrder: t.codePointOrder !== false,
    deterministic: t.deterministic !== false,
  };
}

const collatable = (t: Typed["type"]) => t !== "unknown" && t.base === "text";

/**
 * Postgres collation combination of some inputs (absent = database default). Conflicting explicit
 * collations are an error, conflicting non-default implicit ones give an indeterminate collation.
 */
export function combineCollations(
  c: AstCompiler,
  items: ReadonlyArray<Collation | undefined>,
  node: Located,
): Collation {
  const present = items.filter((x): x is Collation => x !== undefined);
  const explicit = present.filter((x) => x.derivation === "explicit");
  if (explicit.length > 0) {
    const other = explicit.find((x) => x.name !== explicit[0]!.name);
    if (other)
      c.fail(node, `collation mismatch between explicit collations "${explicit[0]!.name}" and "${other.name}"`);
    return explicit[0]!;
  }
  const indeterminate = present.find((x) => x.derivation === "indeterminate");
  if (indeterminate) return indeterminate;
  const implicit = present.filter((x) => x.derivation === "implicit");
  if (implicit.length > 0) {
    const other = implicit.find((x) => x.name !== implicit[0]!.name);
    if (other)
      return {
        name: `${implicit[0]!.name}" and "${other.name}`,
        derivation: "indeterminate",
        codePointOrder: false,
        deterministic: false,
      };
    return implicit[0]!;
  }
  // Default derivation: constants and default-collated columns share the database default.
  const db = databaseDefault(c.columns);
  return present.length === 0
    ? db
    : { ...db, codePointOrder: db.codePointOrder && present.every((x) => x.codePointOrder) };
}

/** Results compiled so far under the node being compiled (compilation is synchronous). */
let siblings: Typed[] | undefined;

/** Runs AstCompiler.compile for one node and derives its result's collation. */
export function withCollation(c: AstCompiler, node: Node, compile: () => Typed): Typed {
  const parent = siblings;
  const children: Typed[] = (siblings = []);
  try {
    const r = deriveCollation(c, compile(), children, node);
    parent?.push(r);
    return r;
  } finally {
    siblings = parent;
  }
}

/**
 * A column reference takes its column's collation, any other text-typed result combines its
 * compiled sub-expressions' collations (like lower(x), x || y, x::varchar, COALESCE, a[1]).
 */
function deriveCollation(c: AstCompiler, r: Typed, children: ReadonlyArray<Typed>, node: Node): Typed {
  if (r.collation || !collatable(r.type)) return r;
  if ("ColumnRef" in node && r.column) {
    const col = columnCollation(c.columns.get(r.column));
    return col ? { ...r, collation: col } : r;
  }
  const derived = children.map((x) => x.collation).filter((x) => x !== undefined);
  if (derived.length === 0) return r;
  const collation = combineCollations(c, derived, payloadOf(node));
  return collation.derivation === "default" ? r : { ...r, collation };
}

/** `expr COLLATE "name"`: only code-point collations (and "default") are accepted. */
export function compileCollate(c: AstCompiler, n: CollateClause): Typed {
  const names = (n.collname ?? []).map((s) => ("String" in s ? s.String.sval : undefined));
  const name = (names[0] === "pg_catalog" ? names.slice(1) : names).join(".");
  let x = c.compile(n.arg!);
  if (x.type === "unknown") x = c.coerce(x, TEXT, n);
  if (!collatable(x.type)) return c.fail(n, `collations are not supported by type ${typeLabel(x.type as PgType)}`);
  if (name === "default") return { ...x, collation: { ...databaseDefault(c.columns), derivation: "explicit" } };
  if (!CODE_POINT_COLLATIONS.has(name))
    return c.fail(n, `COLLATE "${name}" is not supported: text is evaluated by code point, so ${SUPPORTED}`);
  return { ...x, collation: { name, derivation: "explicit", codePointOrder: true, deterministic: true } };
}

/**
 * Validates a text operator over operands of type `t` (a comparison, BETWEEN bound, GREATEST/LEAST,
 * LIKE, IS DISTINCT FROM, array containment): the collation in effect must be determinate and
 * deterministic, and for ordering operators (`<`, `>`, `<=`, `>=`) order by code point.
 */
export function checkTextCollation(
  c: AstCompiler,
  op: string,
  operands: ReadonlyArray<Typed>,
  t: PgType,
  node: Located,
): void {
  if (t.base !== "text" || !c.checkCollations) return;
  const coll = combineCollations(
    c,
    operands.map((o) => o.collation),
    node,
  );
  if (coll.derivation === "indeterminate")
    c.fail(
      node,
      "could not determine which collation to use for string comparison " +
        `(implicit collations "${coll.name}" conflict); add COLLATE "C" to one side`,
    );
  if (!coll.deterministic)
    c.fail(node, `nondeterministic collation "${coll.name}" is not supported (text is compared by bytes in-process)`);
  if (!ORDERING_OPS.has(op) || coll.codePointOrder) return;
  const column = operands.find((o) => o.column)?.column;
  const what =
    coll.derivation === "default" && !column
      ? `the database default collation "${coll.name}"`
      : `collation "${coll.name}"`;
  const fix = column ? `cast the column: "${column.replace(/"/g, '""')}" COLLATE "C"` : `add COLLATE "C"`;
  c.fail(node, `ordering text by ${what} is not supported ${HINT}; compare with = or ${fix}`);
}
