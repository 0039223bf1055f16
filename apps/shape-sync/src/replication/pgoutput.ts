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

export class PgoutputDecoder {
  private readonly relations = new Map<number, RelationMessage>();
  private readonly kinds: number[] = [];
  private readonly starts: number[] = [];
  private readonly lens: number[] = [];

  /** Rows of relations for which this returns false are not decoded (no shape needs them). */
  constructor(private readonly wantsRelation: (oid: number) => boolean = () => true) {}

  relation(oid: number): RelationMessage | undefined {
    return this.relations.get(oid);
  }

  decode(buf: Buffer): PgoutputMessage {
    let pos = 1;
    const u8 = () => buf[pos++]!;
    const i16 = () => { const v = buf.readInt16BE(pos); pos += 2; return v; };
    const i32 = () => { const v = buf.readInt32BE(pos); pos += 4; return v; };
    const u32 = () => { const v = buf.readUInt32BE(pos); pos += 4; return v; };
    const u64 = () => { const v = buf.readBigUInt64BE(pos); pos += 8; return v; };
    const str = () => { const end = buf.indexOf(0, pos); const s = buf.toString("utf8", pos, end); pos = end + 1; return s; };
    const { kinds, starts, lens } = this;
    const tuple = (rel: RelationMessage): TupleRow => {
      // Pass 1: column boundaries. Pass 2: strings — one latin1 slice + substrings when the tuple is ASCII.
      const n = i16();
      const begin = pos;
      for (let i = 0; i < n; i++) {
        const kind = u8();
        kinds[i] = kind;
        if (kind === 0x74 || kind === 0x62) {
          const len = i32();
          starts[i] = pos;
          lens[i] = len;
          pos += len;
        } else if (kind !== 0x6e && kind !== 0x75) throw new PgoutputError(`unknown tuple kind ${kind}`);
      }
      const ascii = isAscii(buf.subarray(begin, pos));
      const whole = ascii ? buf.toString("latin1", begin, pos) : "";
      const row: TupleRow = {};
      for (let i = 0; i < n; i++) {
        const name = rel.columns[i]?.name ?? `?${i}`;
        const kind = kinds[i];
        if (kind === 0x6e) row[name] = null;
        else if (kind === 0x75) row[name] = undefined; // unchanged TOAST
        else row[name] = ascii ? whole.substring(starts[i]! - begin, starts[i]! - begin + lens[i]!) : buf.toString("utf8", starts[i]!, starts[i]! + lens[i]!);
      }
      return row;
    };
    const skipOrDecode = (oid: number): TupleRow | undefined => (this.wantsRelation(oid) ? undefined : SKIPPED);
    const relOf = (oid: number) => {
      const rel = this.relations.get(oid);
      if (!rel) throw new PgoutputError(`change for unknown relation ${oid}`);
      return rel;
    };
    const code = String.fromCharCode(buf[0]!);
    switch (code) {
      case "B": {
        const finalLsn = u64();
        u64();
        return { tag: "begin", finalLsn, xid: u32() };
      }
      case "C": {
        u8();
        const commitLsn = u64();
        const endLsn = u64();
        return { tag: "commit", commitLsn, endLsn };
      }
      case "R": {
        const oid = u32();
        const schema = str();
        const table = str();
        const replicaIdentity = String.fromCharCode(u8());
        const n = i16();
        const columns: RelationColumn[] = [];
        for (let i = 0; i < n; i++) {
          const flags = u8();
          const name = str();
          const typeOid = u32();
          i32();
          columns.push({ name, typeOid, flags });
        }
        const rel: RelationMessage = { tag: "relation", oid, schema, table, replicaIdentity, columns };
        this.relations.set(oid, rel);
        return rel;
      }
      case "I": {
        const oid = u32();
        u8(); // 'N'
        return { tag: "insert", oid, new: skipOrDecode(oid) ?? tuple(relOf(oid)) };
      }
      case "U": {
        const oid = u32();
        if (!this.wantsRelation(oid)) return { tag: "update", oid, old: SKIPPED, new: SKIPPED };
        const rel = relOf(oid);
        let kind = u8();
        let old: TupleRow | undefined;
        if (kind === 0x4b || kind === 0x4f) {
          old = tuple(rel);
          kind = u8();
        }
        return { tag: "update", oid, old, new: tuple(rel) };
      }
      case "D": {
        const oid = u32();
        u8(); // 'K' or 'O'
        return { tag: "delete", oid, old: skipOrDecode(oid) ?? tuple(relOf(oid)) };
      }
      case "T": {
        const n = i32();
        u8();
        const oids: number[] = [];
        for (let i = 0; i < n; i++) oids.push(u32());
        return { tag: "truncate", oids };
      }
      default:
        return { tag: "other", code };
    }
  }
}
