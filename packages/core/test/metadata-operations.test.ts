import { describe, expect, it } from "vitest";
import {
  applyMetadataOperations,
  isSafeMetadataKey,
  parseMetadataPacket,
  parseMetadataPath,
  type MetadataOperation,
} from "../src/metadata-operations.js";
import { UpdateMetadataRequestBody } from "../src/api-schemas.js";

const apply = (current: Record<string, unknown>, ...ops: MetadataOperation[]) => applyMetadataOperations(current, ops);

describe("applyMetadataOperations (§6.3)", () => {
  it("set assigns plain keys and $. paths whose parent exists", () => {
    expect(apply({}, { type: "set", key: "a", value: 1 }).newMetadata).toEqual({ a: 1 });
    expect(apply({ a: { b: 1 } }, { type: "set", key: "$.a.c", value: [1] }).newMetadata).toEqual({
      a: { b: 1, c: [1] },
    });
    expect(apply({ a: [5, 6] }, { type: "set", key: "$.a.0", value: 2 }).newMetadata).toEqual({ a: [2, 6] });
  });

  it("set on a path whose parent is missing changes nothing (JSONHeroPath semantics)", () => {
    expect(apply({}, { type: "set", key: "$.a.b", value: 1 }).newMetadata).toEqual({});
  });

  it("a plain key with dots is a literal key, and \\. escapes a dot in a path", () => {
    expect(apply({}, { type: "set", key: "a.b", value: 1 }).newMetadata).toEqual({ "a.b": 1 });
    expect(parseMetadataPath("$.a\\.b.c")).toEqual(["a.b", "c"]);
    expect(apply({ "a.b": {} }, { type: "set", key: "$.a\\.b.c", value: 1 }).newMetadata).toEqual({ "a.b": { c: 1 } });
  });

  it("delete removes top-level keys only", () => {
    expect(apply({ a: 1, b: 2 }, { type: "delete", key: "a" }).newMetadata).toEqual({ b: 2 });
    expect(apply({ a: { b: 1 } }, { type: "delete", key: "$.a.b" }).newMetadata).toEqual({ a: { b: 1 } });
    expect(apply({}, { type: "delete", key: "missing" }).newMetadata).toEqual({});
  });

  it("append creates, pushes, or wraps a scalar", () => {
    expect(apply({}, { type: "append", key: "l", value: 1 }).newMetadata).toEqual({ l: [1] });
    expect(apply({ l: [1] }, { type: "append", key: "l", value: { x: 2 } }).newMetadata).toEqual({ l: [1, { x: 2 }] });
    expect(apply({ l: "a" }, { type: "append", key: "l", value: "b" }).newMetadata).toEqual({ l: ["a", "b"] });
    expect(apply({ o: {} }, { type: "append", key: "$.o.l", value: 1 }).newMetadata).toEqual({ o: { l: [1] } });
    expect(apply({ o: { l: 0 } }, { type: "append", key: "$.o.l", value: 1 }).newMetadata).toEqual({
      o: { l: [0, 1] },
    });
  });

  it("remove filters by deep equality; a non-array target is unapplied", () => {
    const r = apply({ l: [{ a: 1 }, { a: 2 }, { a: 1 }] }, { type: "remove", key: "l", value: { a: 1 } });
    expect(r.newMetadata).toEqual({ l: [{ a: 2 }] });
    expect(r.unappliedOperations).toEqual([]);
    const bad = apply({ l: 3 }, { type: "remove", key: "l", value: 3 });
    expect(bad.newMetadata).toEqual({ l: 3 });
    expect(bad.unappliedOperations).toHaveLength(1);
    expect(apply({}, { type: "remove", key: "$.x", value: 1 }).unappliedOperations).toHaveLength(1);
    expect(apply({ o: { l: [1, 2] } }, { type: "remove", key: "$.o.l", value: 2 }).newMetadata).toEqual({
      o: { l: [1] },
    });
  });

  it("increment adds to a number or starts from 0; decrement is a negative increment", () => {
    expect(apply({}, { type: "increment", key: "n", value: 2 }).newMetadata).toEqual({ n: 2 });
    expect(apply({ n: 5 }, { type: "increment", key: "n", value: -3 }).newMetadata).toEqual({ n: 2 });
    expect(apply({ n: "x" }, { type: "increment", key: "n", value: 1 }).newMetadata).toEqual({ n: 1 });
    expect(apply({ p: { n: 1 } }, { type: "increment", key: "$.p.n", value: 1.5 }).newMetadata).toEqual({
      p: { n: 2.5 },
    });
  });

  it("update replaces the whole object", () => {
    expect(apply({ a: 1 }, { type: "update", value: { b: 2 } }).newMetadata).toEqual({ b: 2 });
  });

  it("applies operations in order", () => {
    const r = apply(
      { n: 1 },
      { type: "increment", key: "n", value: 1 },
      { type: "update", value: { m: 1 } },
      { type: "increment", key: "n", value: 5 },
      { type: "set", key: "s", value: "x" },
      { type: "delete", key: "m" },
    );
    expect(r.newMetadata).toEqual({ n: 5, s: "x" });
  });

  it("never mutates the input, and returned values are not aliased to operation values", () => {
    const current = { l: [1], o: { a: 1 } };
    const value = { deep: [1] };
    const r = apply(current, { type: "append", key: "l", value: 2 }, { type: "set", key: "v", value });
    expect(current).toEqual({ l: [1], o: { a: 1 } });
    value.deep.push(2);
    expect(r.newMetadata.v).toEqual({ deep: [1] });
  });

  it("refuses prototype pollution at apply time as well as in the schema", () => {
    const r = apply(
      {},
      { type: "set", key: "__proto__", value: { polluted: true } },
      { type: "set", key: "$.constructor.prototype.polluted", value: true },
      { type: "increment", key: "$.__proto__.n", value: 1 },
    );
    expect(r.unappliedOperations).toHaveLength(3);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(r.newMetadata)).toBe(Object.prototype);
  });

  it("a JSON-parsed __proto__ own key stays an own key", () => {
    const current = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    const r = apply(current, { type: "set", key: "y", value: 1 });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(r.newMetadata.y).toBe(1);
  });
});

describe("isSafeMetadataKey", () => {
  it("accepts ordinary keys and paths", () => {
    for (const key of ["a", "a.b", "constructor", "prototype", "$.a", "$.a.b.0"])
      expect(isSafeMetadataKey(key)).toBe(true);
  });
  it("rejects $. alone, __proto__ and dangerous path segments", () => {
    for (const key of [
      "$.",
      "$..",
      "__proto__",
      "$.__proto__",
      "$.a.constructor",
      "$.a.prototype.b",
      "$.a['__proto__']",
      "$.a\\__proto__",
    ]) {
      expect(isSafeMetadataKey(key)).toBe(false);
    }
  });
});

describe("UpdateMetadataRequestBody", () => {
  it("accepts every operation type", () => {
    const body = {
      operations: [
        { type: "set", key: "a", value: { x: [1] } },
        { type: "delete", key: "a" },
        { type: "append", key: "l", value: 1 },
        { type: "remove", key: "l", value: 1 },
        { type: "increment", key: "n", value: -1 },
        { type: "update", value: { a: 1 } },
      ],
      parentOperations: [{ type: "increment", key: "n", value: 1 }],
      rootOperations: [],
      metadata: { a: 1 },
    };
    expect(UpdateMetadataRequestBody.parse(body)).toEqual(body);
  });
  it("rejects dangerous keys, $. alone, unknown types and non-numeric increments, naming the field", () => {
    for (const op of [
      { type: "set", key: "__proto__", value: 1 },
      { type: "set", key: "$.", value: 1 },
      { type: "set", key: "$.a.prototype", value: 1 },
      { type: "explode", key: "a" },
      { type: "increment", key: "n", value: "1" },
      { type: "update", value: [1] },
    ]) {
      const result = UpdateMetadataRequestBody.safeParse({ operations: [op] });
      expect(result.success, JSON.stringify(op)).toBe(false);
      expect(result.error!.issues[0]!.path.slice(0, 2)).toEqual(["operations", 0]);
    }
  });
});

describe("parseMetadataPacket", () => {
  it("parses JSON objects, unwraps super+json, and reads anything else as {}", () => {
    expect(parseMetadataPacket('{"a":1}')).toEqual({ a: 1 });
    expect(parseMetadataPacket('{"json":{"a":1},"meta":{}}', "application/super+json")).toEqual({ a: 1 });
    expect(parseMetadataPacket(null)).toEqual({});
    expect(parseMetadataPacket("[1]")).toEqual({});
    expect(parseMetadataPacket("not json")).toEqual({});
  });
});
