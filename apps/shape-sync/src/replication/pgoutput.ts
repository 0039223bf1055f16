import { isAscii } from "node:buffer";

/**
 * pgoutput (proto_version 1) message decoder, keeping column values in Postgres text form (§9.3).
 * Pure: Buffer in, plain objects out. Handlers downstream are named after these message tags.
 */
export interface RelationColumn {
  name: string;
  typeOid: number;
  flags: number;
}

export interface RelationMessage {
  tag: "relation";
  oid: number;
  schema: string;
  table: string;
  replicaIdentity: string;
  columns: RelationColumn[];
}

/** Column values: text, null, or undefined for an unchanged TOASTed value. */
export type TupleRow = Record<string, string | null | undefined>;

export type PgoutputMessage =
  | { tag: "begin"; finalLsn: bigint; xid: number }
  | { tag: "commit"; commitLsn: bigint; endLsn: bigint }
  | RelationMessage
  | { tag: "insert"; oid: number; new: TupleRow }
  | { tag: "update"; oid: number; old?: TupleRow; new: TupleRow }
  | { tag: "delete"; oid: number; old: TupleRow }
  | { tag: "truncate"; oids: number[] }
  | { tag: "other"; code: string };

export class PgoutputError extends Error {
  override name = "PgoutputError";
}

/** Placeholder row for relations nobody needs (not decoded). */
export const SKIPPED: TupleRow = Object.freeze({}) as TupleRow;

/** Rows whose new tuple has unchanged-TOAST columns (undefined values to fill from the old row). */
export const HAS_UNCHANGED_TOAST = new WeakSet<TupleRow>();

/** Stateful cursor decoder; no closures per message (hot path). */
export class PgoutputDecoder {
  private readonly relations = new Map<number, RelationMessage>();
  private readonly kinds: number[] = [];
  private readonly starts: number[] = [];
  private readonly lens: number[] = [];
  private readonly vals: Array<string | null | undefined> = [];
  /** Per relation: an object-literal factory, so every row gets all its fields in-object at once. */
  private readonly factories = new Map<number, (v: Array<string | null | undefined>) => TupleRow>();
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;

  /** Rows of relations for which this returns false are not decoded (no shape needs them). */
  constructor(private readonly wantsRelation: (oid: number) => boolean = () => true) {}

  relation(oid: number): RelationMessage | undefined {
    return this.relations.get(oid);
  }

  private u8(): number {
    return this.buf[this.pos++]!;
  }
  private i16(): number {
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  private i32(): number {
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private u32(): number {
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  private u64(): bigint {
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }
  private str(): string {
    const end = this.buf.indexOf(0, this.pos);
    const s = this.buf.toString("utf8", this.pos, end);
    this.pos = end + 1;
    return s;
  }

  private relOf(oid: number): RelationMessage {
    const rel = this.relations.get(oid);
    if (!rel) throw new PgoutputError(`change for unknown relation ${oid}`);
    return rel;
  }

  /** TupleData → row. Pass 1: boundaries; pass 2: strings (one latin1 slice + substrings when ASCII). */
  private tuple(rel: RelationMessage): TupleRow {
    const { kinds, starts, lens, buf } = this;
    const n = this.i16();
    const begin = this.pos;
    let toast = false;
    for (let i = 0; i < n; i++) {
      const kind = buf[this.pos++]!;
      kinds[i] = kind;
      if (kind === 0x74 || kind === 0x62) {
        const len = buf.readInt32BE(this.pos);
        this.pos += 4;
        starts[i] = this.pos;
        lens[i] = len;
        this.pos += len;
      } else if (kind === 0x75) toast = true;
      else if (kind !== 0x6e) throw new PgoutputError(`unknown tuple kind ${kind}`);
    }
    const end = this.pos;
    const ascii = isAscii(buf.subarray(begin, end));
    const whole = ascii ? buf.toString("latin1", begin, end) : "";
    const vals = this.vals;
    for (let i = 0; i < n; i++) {
      const kind = kinds[i];
      if (kind === 0x6e) vals[i] = null;
      else if (kind === 0x75) vals[i] = undefined;
      else {
        const st = starts[i]!;
        vals[i] = ascii ? whole.substring(st - begin, st - begin + lens[i]!) : buf.toString("utf8", st, st + lens[i]!);
      }
    }
    const make = n === rel.columns.length ? this.factories.get(rel.oid) : undefined;
    let row: TupleRow;
    if (make) row = make(vals);
    else {
      row = {};
      for (let i = 0; i < n; i++) row[rel.columns[i]?.name ?? `?${i}`] = vals[i];
    }
    if (toast) HAS_UNCHANGED_TOAST.add(row);
    return row;
  }

  decode(buf: Buffer): PgoutputMessage {
    this.buf = buf;
    this.pos = 1;
    switch (buf[0]) {
      case 0x42: {
        // B
        const finalLsn = this.u64();
        this.u64();
        return { tag: "begin", finalLsn, xid: this.u32() };
      }
      case 0x43: {
        // C
        this.u8();
        const commitLsn = this.u64();
        const endLsn = this.u64();
        return { tag: "commit", commitLsn, endLsn };
      }
      case 0x52: {
        // R
        const oid = this.u32();
        const schema = this.str();
        const table = this.str();
        const replicaIdentity = String.fromCharCode(this.u8());
        const n = this.i16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < n; i++) {
          const flags = this.u8();
          const name = this.str();
          const typeOid = this.u32();
          this.i32();
          columns.push({ name, typeOid, flags });
        }
        const rel: RelationMessage = { tag: "relation", oid, schema, table, replicaIdentity, columns };
        this.relations.set(oid, rel);
        if (columns.every((c) => c.name !== "__proto__")) {
          const body = `return {${columns.map((c, i) => `${JSON.stringify(c.name)}: v[${i}]`).join(", ")}};`;
          this.factories.set(oid, new Function("v", body) as (v: Array<string | null | undefined>) => TupleRow);
        } else this.factories.delete(oid);
        return rel;
      }
      case 0x49: {
        // I
        const oid = this.u32();
        if (!this.wantsRelation(oid)) return { tag: "insert", oid, new: SKIPPED };
        this.u8(); // 'N'
        return { tag: "insert", oid, new: this.tuple(this.relOf(oid)) };
      }
      case 0x55: {
        // U
        const oid = this.u32();
        if (!this.wantsRelation(oid)) return { tag: "update", oid, old: SKIPPED, new: SKIPPED };
        const rel = this.relOf(oid);
        let kind = this.u8();
        let old: TupleRow | undefined;
        if (kind === 0x4b || kind === 0x4f) {
          old = this.tuple(rel);
          kind = this.u8();
        }
        return { tag: "update", oid, old, new: this.tuple(rel) };
      }
      case 0x44: {
        // D
        const oid = this.u32();
        if (!this.wantsRelation(oid)) return { tag: "delete", oid, old: SKIPPED };
        this.u8(); // 'K' or 'O'
        return { tag: "delete", oid, old: this.tuple(this.relOf(oid)) };
      }
      case 0x54: {
        // T
        const n = this.i32();
        this.u8();
        const oids: number[] = [];
        for (let i = 0; i < n; i++) oids.push(this.u32());
        return { tag: "truncate", oids };
      }
      default:
        return { tag: "other", code: String.fromCharCode(buf[0]!) };
    }
  }
}
