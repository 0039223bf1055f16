import { RUN_STREAM_COLUMNS } from "@runfeed/core";
import { describe, expect, it } from "vitest";
import {
  buildShapeUrl,
  createdAtFloor,
  parseDurationMs,
  parseQuery,
  parseTags,
  postgresTextArray,
} from "../../app/services/realtime/shapeRewrite.server.js";

const origin = "http://upstream.test:3060";
const build = (
  query: string,
  feed: Parameters<typeof buildShapeUrl>[0]["feed"],
  extra: Partial<Parameters<typeof buildShapeUrl>[0]> = {},
) => buildShapeUrl({ origin, incoming: new URLSearchParams(query), environmentId: "env_1", feed, ...extra });

describe("buildShapeUrl", () => {
  it("forwards only protocol params and sets table, where, params and columns itself", () => {
    const url = build(
      "offset=5_2&handle=h1&live=true&cursor=&log=full&expired_handle=x&where=true&table=public.%22Secret%22&columns=%22apiKey%22&params%5B1%5D=evil&params%5B3%5D=more&secret=s&skipColumns=payload&subset__where=%22oneTimeUseToken%22%20LIKE%20%27a%25%27&subset__params=%7B%7D&cache-buster=1",
      { kind: "run", runId: "internal_1" },
    );
    expect(url.origin + url.pathname).toBe(`${origin}/v1/shape`);
    expect(Object.fromEntries(url.searchParams)).toEqual({
      offset: "5_2",
      handle: "h1",
      live: "true",
      cursor: "",
      log: "full",
      expired_handle: "x",
      "cache-buster": "1",
      table: 'public."TaskRun"',
      where: '"runtimeEnvironmentId" = $1 AND "id" = $2',
      "params[1]": "env_1",
      "params[2]": "internal_1",
      columns: RUN_STREAM_COLUMNS.filter((c) => c !== "payload")
        .map((c) => `"${c}"`)
        .join(","),
    });
  });

  it("sends the configured secret, never the client's", () => {
    expect(build("secret=client", { kind: "run", runId: "r" }).searchParams.has("secret")).toBe(false);
    expect(build("secret=client", { kind: "run", runId: "r" }, { secret: "s3" }).searchParams.get("secret")).toBe("s3");
  });

  it("binds batch ids and tag arrays as params; the where text never contains values", () => {
    const batch = build("offset=-1", { kind: "batch", batchId: "b'1" });
    expect(batch.searchParams.get("where")).toBe('"runtimeEnvironmentId" = $1 AND "batchId" = $2');
    expect(batch.searchParams.get("params[2]")).toBe("b'1");

    const floor = new Date("2026-06-06T10:00:00.123Z");
    const tags = build(
      "offset=-1",
      { kind: "tags", tags: ["a,b", "it's", '\'; DROP TABLE "TaskRun"; --'] },
      { createdAtFloor: floor },
    );
    expect(tags.searchParams.get("where")).toBe(
      '"runtimeEnvironmentId" = $1 AND "runTags" @> $2::text[] AND "createdAt" > $3::timestamp',
    );
    expect(tags.searchParams.get("params[2]")).toBe(`{"a,b","it's","'; DROP TABLE \\"TaskRun\\"; --"}`);
    expect(tags.searchParams.get("params[3]")).toBe("2026-06-06T10:00:00.123");

    const all = build("offset=-1", { kind: "tags", tags: [] });
    expect(all.searchParams.get("where")).toBe('"runtimeEnvironmentId" = $1');
  });

  it("lets the JWT claim replace the URL skipColumns, and never skips reserved columns", () => {
    const url = build(
      "skipColumns=payload,output",
      { kind: "run", runId: "r" },
      {
        claimSkipColumns: ["metadata", "id", "status", "updatedAt", "createdAt", "friendlyId", "taskIdentifier"],
      },
    );
    const columns = url.searchParams.get("columns")!.split(",");
    expect(columns).toContain('"payload"');
    expect(columns).toContain('"output"');
    expect(columns).not.toContain('"metadata"');
    expect(columns).toHaveLength(25);
  });
});

describe("tags and durations", () => {
  it("rejects empty tags and control characters, backslashes and double quotes", () => {
    expect(parseTags("a,b")).toEqual({ tags: ["a", "b"] });
    expect(parseTags("a:'x' y")).toEqual({ tags: ["a:'x' y"] });
    for (const bad of ["a,,b", "", "a\\b", 'a"b', "a\nb", "a\x00", "a\x7f"])
      expect(parseTags(bad)).toHaveProperty("error");
  });

  it("quotes every array element", () => {
    expect(postgresTextArray(["x", 'a"b', "c\\d", "{}", "NULL"])).toBe('{"x","a\\"b","c\\\\d","{}","NULL"}');
  });

  it("parses the duration grammar and clamps the floor", () => {
    expect(parseDurationMs("1d12h")).toBe(36 * 3_600_000);
    expect(parseDurationMs("2hr30m5s")).toBe(2 * 3_600_000 + 30 * 60_000 + 5000);
    expect(parseDurationMs("1w")).toBe(604_800_000);
    expect(parseDurationMs("1 h")).toBeUndefined();
    expect(parseDurationMs("yesterday")).toBeUndefined();
    const now = Date.UTC(2026, 5, 6);
    const day = 86_400_000;
    expect(createdAtFloor("1h", now, day).getTime()).toBe(now - 3_600_000);
    expect(createdAtFloor(undefined, now, day).getTime()).toBe(now - day);
    expect(createdAtFloor("7d", now, day).getTime()).toBe(now - day);
    expect(createdAtFloor("nonsense", now, day).getTime()).toBe(now - day);
  });
});

describe("parseQuery", () => {
  it("reads a query as URLSearchParams does: first value, + and escapes decoded, malformed escapes kept", () => {
    const query = "offset=5_2&handle=a%2Fb&handle=second&cursor=&live&where=a+b%20c&bad=%E0%A4%A&empty=&=x";
    const ours = parseQuery(query);
    const theirs = new URLSearchParams(query);
    for (const name of ["offset", "handle", "cursor", "live", "where", "bad", "empty", "", "missing"]) {
      expect(ours.get(name)).toBe(theirs.get(name));
    }
  });

  it("builds the same upstream query from it as from URLSearchParams", () => {
    const query = "offset=5_2&handle=h%201&live=true&cursor=&log=full&cache-buster=(1)!";
    const feed = { kind: "run", runId: "r" } as const;
    const fromOurs = buildShapeUrl({ origin, incoming: parseQuery(query), environmentId: "env_1", feed });
    expect(Object.fromEntries(fromOurs.searchParams)).toEqual(Object.fromEntries(build(query, feed).searchParams));
    expect(fromOurs.searchParams.get("handle")).toBe("h 1");
    expect(fromOurs.searchParams.get("cache-buster")).toBe("(1)!");
  });
});
