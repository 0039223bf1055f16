import { describe, expect, it } from "vitest";
import {
  CreatePublicTokenRequestBody,
  ReplayRunRequestBody,
  TriggerTaskRequestBody,
  normalizeTags,
  normalizeTtl,
  parseDurationMs,
  resolveDelay,
} from "../src/api-schemas.js";

describe("TriggerTaskRequestBody", () => {
  it("accepts what the 4.8.3 SDK sends and coerces concurrencyKey", () => {
    const body = TriggerTaskRequestBody.parse({
      payload: '{"a":1}',
      options: {
        payloadType: "application/json",
        tags: ["a"],
        concurrencyKey: 7,
        delay: "1h",
        ttl: 60,
        metadata: { m: 1 },
      },
    });
    expect(body.options?.concurrencyKey).toBe("7");
  });
  it("rejects long tags, long idempotency keys and empty store payloads, naming the field", () => {
    const tag = TriggerTaskRequestBody.safeParse({ options: { tags: ["x".repeat(129)] } });
    expect(tag.error?.issues[0]?.path.slice(0, 2)).toEqual(["options", "tags"]);
    const key = TriggerTaskRequestBody.safeParse({ options: { idempotencyKey: "k".repeat(2049) } });
    expect(key.error?.issues[0]?.path).toEqual(["options", "idempotencyKey"]);
    const store = TriggerTaskRequestBody.safeParse({ payload: "", options: { payloadType: "application/store" } });
    expect(store.error?.issues[0]?.path).toEqual(["payload"]);
  });
});

describe("ReplayRunRequestBody", () => {
  it("is strict", () => {
    expect(ReplayRunRequestBody.safeParse({ tags: ["a"] }).success).toBe(true);
    expect(ReplayRunRequestBody.safeParse({ bogus: 1 }).success).toBe(false);
    expect(ReplayRunRequestBody.safeParse({ payload: {}, payloadType: "application/super+json" }).success).toBe(false);
  });
});

describe("CreatePublicTokenRequestBody", () => {
  it("requires at least one scope", () => {
    expect(CreatePublicTokenRequestBody.safeParse({ scopes: [] }).success).toBe(false);
    expect(
      CreatePublicTokenRequestBody.safeParse({ scopes: ["read:runs"], expirationTime: 1_900_000_000 }).success,
    ).toBe(true);
  });
});

describe("durations, delays, ttl and tags", () => {
  it("parses natural durations", () => {
    expect(parseDurationMs("1h30m")).toBe(5_400_000);
    expect(parseDurationMs("2d")).toBe(172_800_000);
    expect(parseDurationMs("1w")).toBe(604_800_000);
    expect(parseDurationMs("1hr")).toBe(3_600_000);
    expect(parseDurationMs("10s")).toBe(10_000);
    expect(parseDurationMs("soon")).toBeUndefined();
    expect(parseDurationMs("")).toBeUndefined();
  });
  it("resolves delays from spans, ISO strings and Dates", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    expect(resolveDelay("30m", now)?.toISOString()).toBe("2026-01-01T00:30:00.000Z");
    expect(resolveDelay("2026-02-01T00:00:00Z", now)?.toISOString()).toBe("2026-02-01T00:00:00.000Z");
    expect(resolveDelay(new Date("2026-03-01T00:00:00Z"), now)?.toISOString()).toBe("2026-03-01T00:00:00.000Z");
    expect(resolveDelay("whenever", now)).toBeUndefined();
    expect(resolveDelay(undefined, now)).toBeUndefined();
  });
  it("normalises ttl and tags", () => {
    expect(normalizeTtl(60)).toBe("60s");
    expect(normalizeTtl("10m")).toBe("10m");
    expect(normalizeTtl("bad")).toBeUndefined();
    expect(normalizeTags("a")).toEqual(["a"]);
    expect(normalizeTags(["a", "", "b", "a"])).toEqual(["a", "b"]);
    expect(normalizeTags(undefined)).toEqual([]);
  });
});
