/**
 * libpg-query AST → typed closure tree (§8). A class, so that evaluator closures do not keep the
 * compiler's own functions and state alive (they capture only their operands).
 */
import {
  CASTABLE_TYPES,
  INDEXABLE_BASES,
  compareValues,
  formatScalar,
  indexKeyOf,
  parseText,
  typeLabel,
  type PgType,
  type Value,
} from "./values.js";
import {
  BOOL,
  FLOAT,
  INT,
  NUMERIC,
  PREFIX,
  RowContext,
  TEXT,
  WhereError,
  type ColumnType,
  type IndexHint,
  type Typed,
} from "./types.js";
import { type Numeric, numericOp, parseNumeric } from "./numeric.js";
import { type Interval, negateInterval } from "./interval.js";
import { datetimeOp, unknownPeer } from "./datetime.js";
import { promotion, scalarConversion, typmodConversion } from "./casts.js";
import { compileFuncCall, compileIndirection } from "./functions.js";
import { checkTextCollation, compileCollate, withCollation } from "./collation.js";
import { arrayConcat, arrayOp } from "./arrays.js";

const INT8_MAX = 2n ** 63n - 1n;
const UNCOMPARABLE_BASES: ReadonlySet<string> = new Set(["jsonb", "bytea", "other"]);

export class WhereCompiler {
  readonly usedParams = new Map<number, { location: number; length: number }[]>();
  readonly referenced = new Set<string>();
  constructor(
    readonly columns: ReadonlyMap<string, ColumnType>,
    readonly params: ReadonlyArray<string>,
    /** False when only Postgres evaluates the clause (subset wheres): collations are its business. */
    readonly checkCollations = true,
  ) {}

  at(node: any): number {
    return Math.max(0, ((node?.location as number | undefined) ?? 15) - PREFIX.length);
  }
  fail(node: any, msg: string): never {
    throw new WhereError(`At location ${this.at(node)}: ${msg}`);
  }

  coerce(x: Typed, to: PgType, node: any): Typed {
    if (x.type !== "unknown") return x;
    const text = x.unknownText;
    if (text === undefined) {
      return { type: to, eval: () => null, isConst: true };
    }
    let value: Value;
    try {
      value = parseText(to, text);
    } catch (e) {
      return this.fail(node, (e as Error).message);
    }
    return { type: to, eval: () => value, isConst: true };
  }

  /** Brings two operands to a common type (unknowns take the other side's type). */
  unify(a: Typed, b: Typed, node: any): [Typed, Typed, PgType] {
    if (a.type === "unknown" && b.type === "unknown")
      return [this.coerce(a, TEXT, node), this.coerce(b, TEXT, node), TEXT];
    if (a.type === "unknown") return [this.coerce(a, b.type as PgType, node), b, b.type as PgType];
    if (b.type === "unknown") return [a, this.coerce(b, a.type, node), a.type];
    const ta = a.type;
    const tb = b.type;
    const numeric = (t: PgType) => t.dims === 0 && (t.base === "int" || t.base === "float" || t.base === "numeric");
    if (numeric(ta) && numeric(tb)) {
      const t =
        ta.base === "float" || tb.base === "float"
          ? FLOAT
          : ta.base === "numeric" || tb.base === "numeric"
            ? NUMERIC
            : INT;
      return [this.promote(a, t), this.promote(b, t), t];
    }
    const dateish = (t: PgType) =>
      t.dims === 0 && (t.base === "date" || t.base === "timestamp" || t.base === "timestamptz");
    if (dateish(ta) && dateish(tb) && (ta.base === "date") !== (tb.base === "date")) {
      const t = ta.base === "date" ? tb : ta;
      return [this.promote(a, t), this.promote(b, t), t];
    }
    const textish = (t: PgType) => t.dims === 0 && (t.base === "text" || t.base === "enum");
    if (textish(ta) && textish(tb) && (ta.base === "text" || tb.base === "text" || ta.name === tb.name))
      return [a, b, ta.base === "text" ? ta : tb];
    if (ta.base === "timestamp" && tb.base === "timestamptz" && ta.dims === tb.dims) return [a, b, tb];
    if (ta.base === "timestamptz" && tb.base === "timestamp" && ta.dims === tb.dims) return [a, b, ta];
    if (ta.base === tb.base && ta.dims === tb.dims && ta.base !== "other") return [a, b, ta];
    return this.fail(node, `operator does not exist: ${typeLabel(ta)} ${this.opName(node)} ${typeLabel(tb)}`);
  }

  /** Wraps an operand in an implicit promotion to `to` (int → numeric → float8, date → timestamp). */
  promote(x: Typed, to: PgType): Typed {
    if (x.type === "unknown") return x;
    const f = promotion(x.type, to);
    if (!f) return x;
    const e = x.eval;
    return {
      type: to,
      isConst: x.isConst,
      eval: (ctx) => {
        const v = e(ctx);
        return v === null ? null : f(v);
      },
    };
  }

  /** Common type of ARRAY[…]/COALESCE/GREATEST/LEAST items: the first known type, widened by numeric (int → numeric → float8) and date → timestamp promotions. */
  commonType(items: Typed[]): PgType {
    let t: PgType | undefined;
    const rank: Record<string, number> = { int: 1, numeric: 2, float: 3, date: 1, timestamp: 2, timestamptz: 3 };
    const family = (b: string) =>
      b === "int" || b === "numeric" || b === "float" ? "n" : b === "date" || b.startsWith("timestamp") ? "d" : b;
    for (const i of items) {
      if (i.type === "unknown") continue;
      if (!t) t = i.type;
      else if (
        t.dims === 0 &&
        i.type.dims === 0 &&
        family(t.base) === family(i.type.base) &&
        (rank[i.type.base] ?? 0) > (rank[t.base] ?? 0)
      )
        t = i.type;
    }
    return t ?? TEXT;
  }

  opName(node: any): string {
    return node?.name?.map((n: any) => n.String?.sval).join(".") ?? "?";
  }

  asBool(x: Typed, node: any): Typed {
    const c = this.coerce(x, BOOL, node);
    if (c.type === "unknown" || c.type.base !== "bool" || c.type.dims !== 0)
      this.fail(node, `argument of boolean expression must be type boolean, not type ${typeLabel(c.type as PgType)}`);
    return c;
  }

  constArrayOf(x: Typed): Value[] | undefined {
    if (!x.isConst) return undefined;
    try {
      const v = x.eval(new RowContext({}, this.columns));
      return Array.isArray(v) ? v : undefined;
    } catch {
      return undefined;
    }
  }

  hintFor(kind: "eq" | "contains", col: Typed, values: Value[]): IndexHint[] | undefined {
    if (!col.column || col.type === "unknown") return undefined;
    if (!INDEXABLE_BASES.has(col.type.base)) return undefined;
    if (kind === "eq" && col.type.dims !== 0) return undefined;
    if (kind === "contains" && col.type.dims !== 1) return undefined;
    const keys = values.map(indexKeyOf);
    if (keys.length === 0 || keys.some((k) => k === undefined)) return undefined;
    return [{ column: col.column, kind, keys: kind === "contains" ? [keys[0]!] : (keys as string[]) }];
  }

  /**
   * jsonb compares by value (key order, number forms), bytea and other types by their own rules: none
   * of it is text equality of their output form, and §8 has no operator for them, so they are refused.
   */
  comparable(t: PgType, op: string, node: any): void {
    if (UNCOMPARABLE_BASES.has(t.base))
      this.fail(
        node,
        `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)} (values of type ${typeLabel(t)} cannot be compared in a where clause)`,
      );
  }

  comparison(op: string, a: Typed, b: Typed, node: any): Typed {
    const [x, y, t] = this.unify(a, b, node);
    this.comparable(t, op, node);
    const isArray = t.dims > 0;
    if (!["=", "<>", "!="].includes(op) && (isArray || ["bool", "interval", "enum"].includes(t.base)))
      this.fail(node, `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)}`);
    checkTextCollation(this, op, [x, y], t, node);
    const test: (c: number) => boolean =
      op === "="
        ? (c) => c === 0
        : op === "<>" || op === "!="
          ? (c) => c !== 0
          : op === "<"
            ? (c) => c < 0
            : op === ">"
              ? (c) => c > 0
              : op === "<="
                ? (c) => c <= 0
                : (c) => c >= 0;
    const ex = x.eval;
    const ey = y.eval;
    let hints: IndexHint[] | undefined;
    if (op === "=") {
      if (x.column && y.isConst) hints = this.hintFor("eq", x, [y.eval(new RowContext({}, this.columns))]);
      else if (y.column && x.isConst) hints = this.hintFor("eq", y, [x.eval(new RowContext({}, this.columns))]);
    }
    return {
      type: BOOL,
      isConst: x.isConst && y.isConst,
      hints,
      eval: (ctx) => {
        const l = ex(ctx);
        if (l === null) return null;
        const r = ey(ctx);
        if (r === null) return null;
        return test(compareValues(l, r));
      },
    };
  }

  arith(op: string, a: Typed, b: Typed, node: any): Typed {
    if (op === "||") {
      const [x, y, t] =
        a.type !== "unknown" && a.type.dims > 0
          ? [a, this.coerce(b, a.type, node), a.type]
          : b.type !== "unknown" && b.type.dims > 0
            ? [this.coerce(a, b.type, node), b, b.type]
            : [this.coerce(a, TEXT, node), this.coerce(b, TEXT, node), TEXT];
      if (t.dims > 0) return arrayConcat(this, x, y, t, node);
      if ((x.type as PgType).base !== "text" && (y.type as PgType).base !== "text")
        this.fail(node, `operator does not exist: ${typeLabel(x.type as PgType)} || ${typeLabel(y.type as PgType)}`);
      // text || anynonarray uses the other operand's text output (dates, intervals, numeric, float8 like Postgres).
      const out = (t: Typed): ((v: Value) => string) =>
        t.type !== "unknown" && t.type.dims === 0
          ? (
              (base) => (v: Value) =>
                formatScalar(base, v)
            )(t.type.base)
          : String;
      const fx = out(x);
      const fy = out(y);
      return {
        type: TEXT,
        isConst: x.isConst && y.isConst,
        eval: (ctx) => {
          const l = x.eval(ctx);
          const r = y.eval(ctx);
          return l === null || r === null ? null : fx(l) + fy(r);
        },
      };
    }
    const dt = this.datetimeArith(op, a, b, node);
    if (dt) return dt;
    const [x, y, t] = this.unify(a, b, node);
    if (t.dims > 0 || (t.base !== "int" && t.base !== "float" && t.base !== "numeric"))
      this.fail(node, `operator does not exist: ${typeLabel(t)} ${op} ${typeLabel(t)}`);
    if (t.base === "numeric") {
      if (!["+", "-", "*", "/", "%"].includes(op)) this.fail(node, `operator ${op} is not supported for numeric`);
      const nop = op as "+" | "-" | "*" | "/" | "%";
      return {
        type: t,
        isConst: x.isConst && y.isConst,
        eval: (ctx) => {
          const l = x.eval(ctx);
          const r = y.eval(ctx);
          if (l === null || r === null) return null;
          return numericOp(nop, l as Numeric, r as Numeric);
        },
      };
    }
    return {
      type: t,
      isConst: x.isConst && y.isConst,
      eval: (ctx) => {
        const l = x.eval(ctx);
        const r = y.eval(ctx);
        if (l === null || r === null) return null;
        if (t.base === "int") {
          const p = BigInt(l as bigint);
          const q = BigInt(r as bigint);
          switch (op) {
            case "+":
              return p + q;
            case "-":
              return p - q;
            case "*":
              return p * q;
            case "/":
              if (q === 0n) return null;
              return p / q;
            case "%":
              if (q === 0n) return null;
              return p % q;
          }
        }
        const p = Number(l);
        const q = Number(r);
        switch (op) {
          case "+":
            return p + q;
          case "-":
            return p - q;
          case "*":
            return p * q;
          case "/":
            return q === 0 ? null : p / q;
          case "^":
            return p ** q;
        }
        return null;
      },
    };
  }

  /** Date/time operators (§8), or undefined when neither operand is a date/time/interval. */
  datetimeArith(op: string, a: Typed, b: Typed, node: any): Typed | undefined {
    const isDt = (t: Typed["type"]) =>
      t !== "unknown" && t.dims === 0 && ["date", "time", "timestamp", "timestamptz", "interval"].includes(t.base);
    if (!isDt(a.type) && !isDt(b.type)) return undefined;
    let x = a;
    let y = b;
    if (x.type === "unknown" || y.type === "unknown") {
      const known = (x.type === "unknown" ? y.type : x.type) as PgType;
      if (known.dims !== 0) return undefined;
      const peer = unknownPeer(op, known.base, y.type === "unknown");
      if (peer === "ambiguous") this.fail(node, `operator is not unique: ${typeLabel(known)} ${op} unknown`);
      if (peer === undefined) return undefined;
      const pt: PgType =
        peer === known.base ? known : { base: peer, dims: 0, name: peer === "float" ? "float8" : peer };
      if (x.type === "unknown") x = this.coerce(x, pt, node);
      else y = this.coerce(y, pt, node);
    }
    const ta = x.type as PgType;
    const tb = y.type as PgType;
    if (ta.dims !== 0 || tb.dims !== 0) return undefined;
    const r = datetimeOp(op, ta.base, tb.base);
    if (!r) return this.fail(node, `operator does not exist: ${typeLabel(ta)} ${op} ${typeLabel(tb)}`);
    const ex = x.eval;
    const ey = y.eval;
    const f = r.fn;
    return {
      type: { base: r.base, dims: 0, name: r.name },
      isConst: x.isConst && y.isConst,
      eval: (ctx) => {
        const l = ex(ctx);
        const rv = ey(ctx);
        if (l === null || rv === null) return null;
        return f(l, rv) as Value;
      },
    };
  }

  like(a: Typed, b: Typed, insensitive: boolean, negate: boolean, node: any): Typed {
    const x = this.coerce(a, TEXT, node);
    const y = this.coerce(b, TEXT, node);
    for (const t of [x.type, y.type])
      if (t === "unknown" || t.dims > 0 || (t.base !== "text" && t.base !== "enum"))
        this.fail(node, `operator does not exist: ${typeLabel(t as PgType)} ~~ text`);
    checkTextCollation(this, "~~", [x, y], TEXT, node);
    const cache = new Map<string, RegExp>();
    const toRe = (p: string) => {
      let re = cache.get(p);
      if (!re) {
        let src = "";
        for (let i = 0; i < p.length; i++) {
          const ch = p[i]!;
          if (ch === "\\" && i + 1 < p.length) src += p[++i]!.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
          else if (ch === "%") src += "[\\s\\S]*";
          else if (ch === "_") src += "[\\s\\S]";
          else src += ch.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
        }
        re = new RegExp(`^${src}$`, insensitive ? "i" : "");
        cache.set(p, re);
      }
      return re;
    };
    return {
      type: BOOL,
      isConst: x.isConst && y.isConst,
      eval: (ctx) => {
        const l = x.eval(ctx);
        const r = y.eval(ctx);
        if (l === null || r === null) return null;
        const m = toRe(String(r)).test(String(l));
        return negate ? !m : m;
      },
    };
  }

  castTo(x: Typed, typeNode: any, node: any): Typed {
    const names: string[] = (typeNode.names ?? [])
      .map((n: any) => n.String?.sval)
      .filter((s: string) => s !== "pg_catalog");
    const tn = names.join(".");
    const base = CASTABLE_TYPES[tn];
    if (!base) return this.fail(node, `unsupported type ${tn}`);
    const dims = (typeNode.arrayBounds ?? []).length;
    const target: PgType = { base, dims, name: tn };
    let mod: ((v: Value) => Value) | undefined;
    if (typeNode.typmods) {
      const mods: number[] = typeNode.typmods.map((m: any) =>
        m.A_Const?.ival ? Number(m.A_Const.ival.ival ?? 0) : NaN,
      );
      mod = mods.some(Number.isNaN) || dims > 0 ? undefined : typmodConversion(base, tn, mods);
      if (!mod) return this.fail(node, `type modifiers are not supported for type ${tn}`);
    }
    const withMod = (t: Typed): Typed => {
      if (!mod) return t;
      const e = t.eval;
      const m = mod;
      return {
        type: target,
        isConst: t.isConst,
        eval: (ctx) => {
          const v = e(ctx);
          return v === null ? null : m(v);
        },
      };
    };
    if (x.type === "unknown") return withMod(this.coerce(x, target, node));
    const from = x.type;
    if (from.base === base && from.dims === dims)
      return withMod({ ...x, type: target, column: mod ? undefined : x.column });
    if (dims === 0 && from.dims === 0) {
      const conv = scalarConversion(from.base, target);
      if (!conv) return this.fail(node, `cannot cast type ${typeLabel(from)} to ${typeLabel(target)}`);
      const e = x.eval;
      return withMod({
        type: target,
        isConst: x.isConst,
        eval: (ctx) => {
          const v = e(ctx);
          return v === null ? null : conv(v);
        },
      });
    }
    if (dims > 0 && from.dims > 0 && base === "text" && (from.base === "text" || from.base === "enum"))
      return { ...x, type: target, column: undefined };
    return this.fail(node, `cannot cast type ${typeLabel(from)} to ${typeLabel(target)}`);
  }

  /** Compiles a node; its text result's collation is derived from the results compiled under it. */
  compile(node: any): Typed {
    return withCollation(this, node, () => this.compileNode(node));
  }

  compileNode(node: any): Typed {
    const [kind] = Object.keys(node);
    const n = node[kind!];
    switch (kind) {
      case "A_Const": {
        if (n.isnull) return { type: "unknown", eval: () => null, isConst: true };
        if (n.ival !== undefined) {
          const v = BigInt(n.ival.ival ?? 0);
          return { type: INT, eval: () => v, isConst: true };
        }
        if (n.fval !== undefined) {
          const text = String(n.fval.fval);
          // Like Postgres: an integer literal too big for int4 is int8 when it fits, numeric beyond.
          if (/^\d+$/.test(text) && BigInt(text) <= INT8_MAX) {
            const v = BigInt(text);
            return { type: INT, eval: () => v, isConst: true };
          }
          const v = parseNumeric(text);
          if (!v) return this.fail(n, `invalid numeric constant ${text}`);
          return { type: NUMERIC, eval: () => v, isConst: true };
        }
        if (n.boolval !== undefined) {
          const v = Boolean(n.boolval.boolval);
          return { type: BOOL, eval: () => v, isConst: true };
        }
        if (n.sval !== undefined) {
          const s = String(n.sval.sval ?? "");
          return { type: "unknown", unknownText: s, eval: () => s, isConst: true };
        }
        return this.fail(n, "unsupported constant");
      }
      case "ColumnRef": {
        const fields = n.fields ?? [];
        if (fields.length !== 1 || !fields[0].String)
          return this.fail(n, `unknown reference ${fields.map((f: any) => f.String?.sval ?? "*").join(".")}`);
        const name: string = fields[0].String.sval;
        const type = this.columns.get(name);
        if (!type) return this.fail(n, `unknown reference ${name}`);
        this.referenced.add(name);
        return { type, column: name, isConst: false, eval: (ctx) => ctx.get(name) };
      }
      case "ParamRef": {
        const i: number = n.number;
        const v = this.params[i - 1];
        if (v === undefined) return this.fail(n, `parameter $${i} was not provided`);
        const list = this.usedParams.get(i) ?? [];
        list.push({ location: n.location - PREFIX.length, length: `$${i}`.length });
        this.usedParams.set(i, list);
        return { type: "unknown", unknownText: v, eval: () => v, isConst: true };
      }
      case "TypeCast":
        return this.castTo(this.compile(n.arg), n.typeName, n);
      case "BoolExpr": {
        const args: Typed[] = n.args.map((a: any) => this.asBool(this.compile(a), a));
        const evals = args.map((a) => a.eval);
        if (n.boolop === "NOT_EXPR") {
          const e = evals[0]!;
          return {
            type: BOOL,
            isConst: args[0]!.isConst,
            eval: (ctx) => {
              const v = e(ctx);
              return v === null ? null : !v;
            },
          };
        }
        const isAnd = n.boolop === "AND_EXPR";
        const hints = isAnd ? args.flatMap((a) => a.hints ?? []) : undefined;
        return {
          type: BOOL,
          isConst: args.every((a) => a.isConst),
          hints,
          eval: (ctx) => {
            let sawNull = false;
            for (const e of evals) {
              const v = e(ctx);
              if (v === null) sawNull = true;
              else if (v === !isAnd) return !isAnd;
            }
            return sawNull ? null : isAnd;
          },
        };
      }
      case "NullTest": {
        const a = this.compile(n.arg);
        const isNull = n.nulltesttype === "IS_NULL";
        return { type: BOOL, isConst: a.isConst, eval: (ctx) => (a.eval(ctx) === null) === isNull };
      }
      case "BooleanTest": {
        const a = this.asBool(this.compile(n.arg), n);
        const t: string = n.booltesttype;
        return {
          type: BOOL,
          isConst: a.isConst,
          eval: (ctx) => {
            const v = a.eval(ctx);
            switch (t) {
              case "IS_TRUE":
                return v === true;
              case "IS_NOT_TRUE":
                return v !== true;
              case "IS_FALSE":
                return v === false;
              case "IS_NOT_FALSE":
                return v !== false;
              case "IS_UNKNOWN":
                return v === null;
              default:
                return v !== null;
            }
          },
        };
      }
      case "A_ArrayExpr": {
        const items: Typed[] = (n.elements ?? []).map((x: any) => this.compile(x));
        const elemType = this.commonType(items);
        const coerced = items.map((i) => this.promote(this.coerce(i, elemType, n), elemType));
        const evals = coerced.map((c) => c.eval);
        return {
          type: { ...elemType, dims: elemType.dims + 1 },
          isConst: coerced.every((c) => c.isConst),
          eval: (ctx) => evals.map((e) => e(ctx)),
        };
      }
      case "CoalesceExpr":
      case "MinMaxExpr": {
        const items: Typed[] = n.args.map((x: any) => this.compile(x));
        const t = this.commonType(items);
        const evals = items.map((i) => this.promote(this.coerce(i, t, n), t).eval);
        if (kind === "CoalesceExpr")
          return {
            type: t,
            isConst: false,
            eval: (ctx) => {
              for (const e of evals) {
                const v = e(ctx);
                if (v !== null) return v;
              }
              return null;
            },
          };
        checkTextCollation(this, "<", items, t, n);
        const greatest = n.op === "IS_GREATEST";
        return {
          type: t,
          isConst: false,
          eval: (ctx) => {
            let best: Value = null;
            for (const e of evals) {
              const v = e(ctx);
              if (v !== null && (best === null || (greatest ? compareValues(v, best) > 0 : compareValues(v, best) < 0)))
                best = v;
            }
            return best;
          },
        };
      }
      case "FuncCall":
        return compileFuncCall(this, n);
      case "CollateClause":
        return compileCollate(this, n);
      case "A_Indirection":
        return compileIndirection(this, n);
      case "A_Expr":
        return this.compileAExpr(n);
      case "SubLink":
        return this.fail(n, "SubLink is not supported in this context (subqueries are not supported by this server)");
      default:
        return this.fail(n, `${kind} is not supported in this context`);
    }
  }

  compileAExpr(n: any): Typed {
    const op = this.opName(n);
    switch (n.kind) {
      case "AEXPR_OP": {
        if (!n.lexpr) {
          const a = this.compile(n.rexpr);
          if ((op === "-" || op === "+") && a.type !== "unknown" && a.type.dims === 0 && a.type.base === "interval") {
            if (op === "+") return a;
            const e = a.eval;
            return {
              type: a.type,
              isConst: a.isConst,
              eval: (ctx) => {
                const v = e(ctx);
                return v === null ? null : negateInterval(v as Interval);
              },
            };
          }
          if (op === "-" || op === "+") return this.arith(op, { type: INT, isConst: true, eval: () => 0n }, a, n);
          if (op === "NOT")
            return this.compile({ BoolExpr: { boolop: "NOT_EXPR", args: [n.rexpr], location: n.location } });
          return this.fail(n, `unknown or unsupported operator ${op}`);
        }
        const a = this.compile(n.lexpr);
        const b = this.compile(n.rexpr);
        if (["=", "<>", "!=", "<", ">", "<=", ">="].includes(op)) return this.comparison(op, a, b, n);
        if (["@>", "<@", "&&"].includes(op)) return arrayOp(this, op, a, b, n);
        if (["+", "-", "*", "/", "%", "^", "||"].includes(op)) return this.arith(op, a, b, n);
        if (op === "~~" || op === "~~*" || op === "!~~" || op === "!~~*")
          return this.like(a, b, op.includes("*"), op.startsWith("!"), n);
        return this.fail(n, `unknown or unsupported operator ${op}`);
      }
      case "AEXPR_LIKE":
      case "AEXPR_ILIKE":
        return this.like(this.compile(n.lexpr), this.compile(n.rexpr), n.kind === "AEXPR_ILIKE", op.startsWith("!"), n);
      case "AEXPR_DISTINCT":
      case "AEXPR_NOT_DISTINCT": {
        const [x, y, t] = this.unify(this.compile(n.lexpr), this.compile(n.rexpr), n);
        this.comparable(t, "IS DISTINCT FROM", n);
        checkTextCollation(this, "=", [x, y], t, n);
        const distinct = n.kind === "AEXPR_DISTINCT";
        return {
          type: BOOL,
          isConst: false,
          eval: (ctx) => {
            const l = x.eval(ctx);
            const r = y.eval(ctx);
            const same = l === null || r === null ? l === r : compareValues(l, r) === 0;
            return distinct ? !same : same;
          },
        };
      }
      case "AEXPR_IN": {
        const a = this.compile(n.lexpr);
        const items: Typed[] = n.rexpr.List.items.map((x: any) => this.compile(x));
        const negate = op === "<>";
        const cmps = items.map((it) => this.comparison("=", a, it, n));
        let hints: IndexHint[] | undefined;
        if (!negate && a.column && cmps.every((c) => c.hints && c.hints.length === 1)) {
          hints = [{ column: a.column, kind: "eq", keys: cmps.flatMap((c) => c.hints![0]!.keys) }];
        }
        const evals = cmps.map((c) => c.eval);
        return {
          type: BOOL,
          isConst: false,
          hints,
          eval: (ctx) => {
            let sawNull = false;
            for (const e of evals) {
              const v = e(ctx);
              if (v === true) return !negate;
              if (v === null) sawNull = true;
            }
            return sawNull ? null : negate;
          },
        };
      }
      case "AEXPR_BETWEEN":
      case "AEXPR_NOT_BETWEEN":
      case "AEXPR_BETWEEN_SYM":
      case "AEXPR_NOT_BETWEEN_SYM": {
        const a = this.compile(n.lexpr);
        const [lo, hi] = n.rexpr.List.items.map((x: any) => this.compile(x)) as [Typed, Typed];
        const ge = this.comparison(">=", a, lo, n).eval;
        const le = this.comparison("<=", a, hi, n).eval;
        const ge2 = this.comparison(">=", a, hi, n).eval;
        const le2 = this.comparison("<=", a, lo, n).eval;
        const sym = n.kind.endsWith("_SYM");
        const neg = n.kind.includes("NOT");
        const and = (p: Value, q: Value) =>
          p === false || q === false ? false : p === null || q === null ? null : true;
        return {
          type: BOOL,
          isConst: false,
          eval: (ctx) => {
            let v = and(ge(ctx), le(ctx));
            if (sym && v !== true) {
              const w = and(ge2(ctx), le2(ctx));
              v = w === true ? true : v === null || w === null ? null : false;
            }
            return v === null ? null : neg ? !v : v;
          },
        };
      }
      case "AEXPR_OP_ANY":
      case "AEXPR_OP_ALL": {
        const a = this.compile(n.lexpr);
        const arr = this.compile(n.rexpr);
        const elemType: PgType | "unknown" =
          arr.type === "unknown" ? (a.type === "unknown" ? TEXT : { ...(a.type as PgType), dims: 1 }) : arr.type;
        const arrT = this.coerce(arr, elemType as PgType, n);
        if (arrT.type === "unknown" || arrT.type.dims === 0)
          return this.fail(n, `op ANY/ALL (array) requires array on right side`);
        const elem: Typed = {
          type: { ...arrT.type, dims: 0 },
          isConst: false,
          eval: () => null,
          collation: arrT.collation,
        };
        const [x] = this.unify(a, elem, n);
        this.comparison(op, x, elem, n); // validates the operator for these types
        const all = n.kind === "AEXPR_OP_ALL";
        return {
          type: BOOL,
          isConst: false,
          eval: (ctx) => {
            const l = x.eval(ctx);
            const list = arrT.eval(ctx);
            if (list === null) return null;
            let sawNull = false;
            for (const e of (list as Value[]).flat(Infinity as 1) as Value[]) {
              if (l === null || e === null) {
                sawNull = true;
                continue;
              }
              const c = compareValues(l, e);
              const t =
                op === "="
                  ? c === 0
                  : op === "<>"
                    ? c !== 0
                    : op === "<"
                      ? c < 0
                      : op === ">"
                        ? c > 0
                        : op === "<="
                          ? c <= 0
                          : c >= 0;
              if (all && !t) return false;
              if (!all && t) return true;
            }
            return sawNull ? null : all;
          },
        };
      }
      default:
        return this.fail(n, `${String(n.kind).replace("AEXPR_", "")} expressions are not supported in this context`);
    }
  }
}
