import { describe, expect, it } from "vitest";
import { HAS_UNCHANGED_TOAST, PgoutputDecoder, SKIPPED } from "../src/replication/pgoutput.js";
import { compileShape, convertChange } from "../src/shapes/definition.js";
import { tableInfo } from "./tables.js";

/** Minimal pgoutput v1 encoder for tests. */
class W {
  parts: Buffer[] = [];
  u8(v: number) {
    this.parts.push(Buffer.from([v]));
    return this;
  }
  i16(v: number) {
    const b = Buffer.alloc(2);
    b.writeInt16BE(v);
    this.parts.push(b);
    return this;
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32BE(v);
    this.parts.push(b);
    return this;
  }
  u64(v: bigint) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(v);
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    this.parts.push(Buffer.from(s + "\0", "utf8"));
    return this;
  }
  tuple(vals: Array<string | null | "<toast>">) {
    this.i16(vals.length);
    for (const v of vals) {
      if (v === null) this.u8(0x6e);
      else if (v === "<toast>") this.u8(0x75);
      else {
        const b = Buffer.from(v, "utf8");
        this.u8(0x74).i32(b.length);
        this.parts.push(b);
      }
    }
    return this;
  }
  done() {
    return Buffer.concat(this.parts);
  }
}

const relation = () =>
  new W()
    .u8(0x52)
    .i32(16384)
    .str("public")
    .str("items")
    .u8(0x66)
    .i16(3)
    .u8(1)
    .str("id")
    .i32(23)
    .i32(-1)
    .u8(0)
    .str("title")
    .i32(25)
    .i32(-1)
    .u8(0)
    .str("body")
    .i32(25)
    .i32(-1)
    .done();

describe("pgoutput decoder", () => {
  it("decodes begin/relation/insert/update/delete/truncate/commit in text form", () => {
    const d = new PgoutputDecoder();
    expect(d.decode(new W().u8(0x42).u64(100n).u64(0n).i32(760).done())).toEqual({
      tag: "begin",
      finalLsn: 100n,
      xid: 760,
    });
    expect(d.decode(relation())).toMatchObject({
      tag: "relation",
      oid: 16384,
      schema: "public",
      table: "items",
      columns: [{ name: "id", typeOid: 23 }, { name: "title" }, { name: "body" }],
    });
    expect(d.decode(new W().u8(0x49).i32(16384).u8(0x4e).tuple(["1", "héllo ✓", null]).done())).toEqual({
      tag: "insert",
      oid: 16384,
      new: { id: "1", title: "héllo ✓", body: null },
    });
    const upd = d.decode(
      new W().u8(0x55).i32(16384).u8(0x4f).tuple(["1", "a", "big"]).u8(0x4e).tuple(["1", "b", "<toast>"]).done(),
    );
    expect(upd).toEqual({
      tag: "update",
      oid: 16384,
      old: { id: "1", title: "a", body: "big" },
      new: { id: "1", title: "b", body: undefined },
    });
    expect(HAS_UNCHANGED_TOAST.has((upd as { new: object }).new as never)).toBe(true);
    expect(d.decode(new W().u8(0x44).i32(16384).u8(0x4f).tuple(["1", "b", "big"]).done())).toEqual({
      tag: "delete",
      oid: 16384,
      old: { id: "1", title: "b", body: "big" },
    });
    expect(d.decode(new W().u8(0x54).i32(1).u8(0).i32(16384).done())).toEqual({ tag: "truncate", oids: [16384] });
    expect(d.decode(new W().u8(0x43).u8(0).u64(100n).u64(120n).u64(0n).done())).toEqual({
      tag: "commit",
      commitLsn: 100n,
      endLsn: 120n,
    });
  });

  it("skips row data of relations nobody needs", () => {
    const d = new PgoutputDecoder(() => false);
    d.decode(relation());
    expect(d.decode(new W().u8(0x49).i32(16384).u8(0x4e).tuple(["1", "x", null]).done())).toEqual({
      tag: "insert",
      oid: 16384,
      new: SKIPPED,
    });
  });
});

describe("change conversion (§3.2)", () => {
  const table = tableInfo(1, "items", [
    ["id", "int4"],
    ["title", "text"],
    ["body", "text"],
  ]);
  it("default replica sends PK + changed columns, fills unchanged TOAST, converts where membership", async () => {
    const { loadWhereParser } = await import("../src/where/where-clause.js");
    await loadWhereParser();
    const all = compileShape({ schema: "public", table: "items", replica: "default", log: "full" }, table);
    const d = new PgoutputDecoder();
    d.decode(relation());
    const u = d.decode(
      new W().u8(0x55).i32(16384).u8(0x4f).tuple(["1", "a", "big"]).u8(0x4e).tuple(["1", "b", "<toast>"]).done(),
    ) as any;
    const [m] = convertChange(all, { kind: "update", old: u.old, new: u.new }, 4, "100", 7);
    expect(m).toEqual({
      key: `"public"."items"/"1"`,
      value: { id: "1", title: "b" },
      headers: { operation: "update", relation: ["public", "items"], lsn: "100", op_position: 4, txids: [7] },
    });

    const full = compileShape(
      { schema: "public", table: "items", replica: "full", log: "full", where: "title = 'a'" },
      table,
    );
    const [out] = convertChange(full, { kind: "update", old: u.old, new: u.new }, 4, "100", 7);
    expect(out).toMatchObject({
      value: { id: "1", title: "a", body: "big" },
      headers: { operation: "delete" },
    });

    const pkChange = convertChange(
      all,
      { kind: "update", old: { id: "1", title: "a", body: null }, new: { id: "2", title: "a", body: null } },
      0,
      "100",
      7,
    );
    expect(
      pkChange.map((x) => [
        x.headers.op_position,
        x.headers.operation,
        x.headers.key_change_to ?? x.headers.key_change_from,
      ]),
    ).toEqual([
      [0, "delete", `"public"."items"/"2"`],
      [1, "insert", `"public"."items"/"1"`],
    ]);
  });
});
