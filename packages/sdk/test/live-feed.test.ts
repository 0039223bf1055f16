/**
 * The feed APIs a run table needs (SPEC.md S7–S8) against a real local HTTP server speaking the
 * Electric protocol (@runfeed/devstack/fixtures, scripted-feed.ts): the environment-wide feed, token renewal after a 401
 * that resumes from the last offset (no run sent twice, none missed), and the connection state as it
 * changes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  AuthenticationError,
  RecentRuns,
  runs,
  type ConnectionState,
  type RealtimeRun,
  type RunSubscription,
} from "../src/index.js";
import { startScriptedFeed, wireRun, type ScriptedFeed } from "@runfeed/devstack/fixtures";

let feed: ScriptedFeed;
beforeEach(async () => {
  feed = await startScriptedFeed();
});
afterEach(() => feed.close());

// The scripted feed answers long-polls (SSE and its fallback: sdk.integration.test.ts).
const opts = () => ({ baseURL: feed.baseURL, accessToken: "token-a", liveSse: false });

/** Every run the subscription emits, and every state it goes through, as they happen. */
function record(subscription: RunSubscription) {
  const seen: string[] = [];
  const states: ConnectionState[] = [subscription.state.kind];
  subscription.subscribe({
    next: (run) => seen.push(`${run.id}:${run.status}`),
    state: (state) => states.push(state.kind),
  });
  return { seen, states };
}

describe("runs.subscribeToRuns (the environment-wide feed)", () => {
  it("asks for every run of the environment (no tags), with createdAt and skipColumns", async () => {
    feed.snapshot = [wireRun({ id: "a", friendlyId: "run_a" }), wireRun({ id: "b", friendlyId: "run_b" })];
    const subscription = runs.subscribeToRuns({ ...opts(), createdAt: "15m", skipColumns: "status-only" });
    const { seen } = record(subscription);
    await vi.waitFor(() => expect(seen).toEqual(["run_a:QUEUED", "run_b:QUEUED"]));
    feed.push([wireRun({ id: "c", friendlyId: "run_c", status: "EXECUTING" })]);
    await vi.waitFor(() => expect(seen).toContain("run_c:EXECUTING"));
    const url = feed.requests[0]!.url;
    expect(url.pathname).toBe("/realtime/v1/runs");
    expect(url.searchParams.has("tags")).toBe(false);
    expect(url.searchParams.get("createdAt")).toBe("15m");
    expect(url.searchParams.get("skipColumns")).toContain("payload");
    subscription.unsubscribe();
  });

  it("with a limit emits only the newest runs, and refuses a limit below 1", async () => {
    feed.snapshot = [
      wireRun({ id: "a", friendlyId: "run_a", createdAt: "2026-06-06T10:00:01.000" }),
      wireRun({ id: "b", friendlyId: "run_b", createdAt: "2026-06-06T10:00:02.000" }),
    ];
    const subscription = runs.subscribeToRuns({ ...opts(), limit: 1 });
    const { seen } = record(subscription);
    await vi.waitFor(() => expect(subscription.state.kind).toBe("live"));
    feed.push([wireRun({ id: "a", friendlyId: "run_a", createdAt: "2026-06-06T10:00:01.000", status: "EXECUTING" })]);
    feed.push([wireRun({ id: "c", friendlyId: "run_c", createdAt: "2026-06-06T10:00:03.000" })]);
    await vi.waitFor(() => expect(seen).toContain("run_c:QUEUED"));
    expect(seen).toEqual(["run_b:QUEUED", "run_c:QUEUED"]);
    subscription.unsubscribe();
    expect(() => runs.subscribeToRuns({ ...opts(), limit: 0 })).toThrow(RangeError);
  });

  it("narrows to tags when given", async () => {
    const subscription = runs.subscribeToRuns({ ...opts(), tags: "customer:42" });
    await vi.waitFor(() => expect(feed.requests.length).toBeGreaterThan(0));
    expect(feed.requests[0]!.url.searchParams.get("tags")).toBe("customer:42");
    subscription.unsubscribe();
  });
});

describe("RecentRuns", () => {
  const run = (id: string, minute: number, status = "QUEUED") =>
    ({ id, status, createdAt: new Date(Date.UTC(2026, 5, 6, 10, minute)) }) as RealtimeRun;

  it("keeps the newest `limit` runs, newest first, replacing a run in place", () => {
    const recent = new RecentRuns({ limit: 3 });
    for (const [id, minute] of [
      ["run_a", 1],
      ["run_c", 3],
      ["run_b", 2],
      ["run_d", 4],
    ] as const)
      expect(recent.apply(run(id, minute))).toBe(true);
    expect(recent.runs.map((r) => r.id)).toEqual(["run_d", "run_c", "run_b"]);
    const before = recent.runs;
    expect(recent.apply(run("run_c", 3, "EXECUTING"))).toBe(true);
    expect(recent.runs).not.toBe(before);
    expect(recent.runs.map((r) => `${r.id}:${r.status}`)).toEqual(["run_d:QUEUED", "run_c:EXECUTING", "run_b:QUEUED"]);
    // Older than the oldest kept run of a full list: not kept, nothing changes.
    expect(recent.apply(run("run_a", 1, "EXECUTING"))).toBe(false);
    expect(recent.runs.map((r) => r.id)).toEqual(["run_d", "run_c", "run_b"]);
  });

  it("orders runs created in the same millisecond by id, and refuses a limit below 1", () => {
    const recent = new RecentRuns();
    recent.apply(run("run_1", 5));
    recent.apply(run("run_2", 5));
    expect(recent.runs.map((r) => r.id)).toEqual(["run_2", "run_1"]);
    expect(() => new RecentRuns({ limit: 0 })).toThrow(RangeError);
  });
});

describe("onTokenRefused (S8)", () => {
  it("renews a refused token and resumes from the last offset and handle: no run twice, none missed", async () => {
    feed.snapshot = [wireRun({ id: "a", friendlyId: "run_a" }), wireRun({ id: "b", friendlyId: "run_b" })];
    const refused: AuthenticationError[] = [];
    const subscription = runs.subscribeToRuns({
      ...opts(),
      onTokenRefused: async (error) => {
        refused.push(error);
        return "token-b";
      },
    });
    const { seen, states } = record(subscription);
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    // The next request after this answer is refused, as when the token expired in between.
    feed.failNext(401, { error: "Token expired" });
    feed.push([wireRun({ id: "a", friendlyId: "run_a", status: "EXECUTING" })]);
    // Electric paces the retry after the refusal (backoff with jitter).
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1), { timeout: 10_000 });
    feed.push([wireRun({ id: "c", friendlyId: "run_c" })]);
    await vi.waitFor(() => expect(seen).toContain("run_c:QUEUED"), { timeout: 10_000 });

    expect(seen).toEqual(["run_a:QUEUED", "run_b:QUEUED", "run_a:EXECUTING", "run_c:QUEUED"]);
    expect(refused).toHaveLength(1);
    expect(refused[0]).toBeInstanceOf(AuthenticationError);
    expect(subscription.accessToken).toBe("token-b");
    const [snapshot, firstLive, refusedRequest, resumed, ...rest] = feed.requests;
    expect(snapshot!.url.searchParams.get("offset")).toBe("-1");
    expect(refusedRequest!.authorization).toBe("Bearer token-a");
    // The same request again with the new token: same handle, same offset, still live. No snapshot.
    expect(resumed!.authorization).toBe("Bearer token-b");
    for (const param of ["handle", "offset", "live"])
      expect(resumed!.url.searchParams.get(param)).toBe(refusedRequest!.url.searchParams.get(param));
    expect(resumed!.url.searchParams.get("offset")).not.toBe("-1");
    expect(firstLive!.url.searchParams.get("live")).toBe("true");
    expect(rest.every((r) => r.url.searchParams.get("offset") !== "-1")).toBe(true);
    expect(states).toEqual(["connecting", "live", "refused", "reconnecting", "live"]);
    subscription.unsubscribe();
    expect(states.at(-1)).toBe("unsubscribed");
  });

  it("ends with the AuthenticationError when the callback has no token, and with its own error when it throws", async () => {
    feed.failNext(401, { error: "Token expired" }, 2);
    const none = runs.subscribeToRuns({ ...opts(), onTokenRefused: () => undefined });
    const { states } = record(none);
    await vi.waitFor(() => expect(none.state.kind).toBe("errored"), { timeout: 10_000 });
    expect(none.state).toMatchObject({ kind: "errored", error: expect.any(AuthenticationError) });
    expect(states).toEqual(["connecting", "refused", "errored"]);

    const failing = runs.subscribeToRuns({
      ...opts(),
      onTokenRefused: () => Promise.reject(new Error("signed out")),
    });
    await vi.waitFor(() => expect(failing.state.kind).toBe("errored"), { timeout: 10_000 });
    expect(failing.state).toMatchObject({ error: { message: "signed out" } });
    expect(feed.requests).toHaveLength(2);
  });
});

describe("connection state (S7)", () => {
  it("goes live → reconnecting on a 503 and back to live once a retried request is answered", async () => {
    const subscription = runs.subscribeToRuns(opts());
    const { states } = record(subscription);
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    feed.failNext(503, undefined, 2);
    feed.push([wireRun()]);
    // Electric's backoff sets the pace of the two retries.
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1), { timeout: 15_000 });
    // A long-poll is known to be through only once it is answered.
    expect(states).toEqual(["connecting", "live", "reconnecting"]);
    feed.push([wireRun({ status: "EXECUTING" })]);
    await vi.waitFor(() => expect(subscription.state.kind).toBe("live"));
    expect(states).toEqual(["connecting", "live", "reconnecting", "live"]);
    subscription.unsubscribe();
  });

  it("stays connecting while the first request is retried, then goes live", async () => {
    feed.failNext(503);
    const subscription = runs.subscribeToRuns(opts());
    const { states } = record(subscription);
    await vi.waitFor(() => expect(subscription.state.kind).toBe("live"), { timeout: 15_000 });
    expect(states).toEqual(["connecting", "reconnecting", "connecting", "live"]);
    subscription.unsubscribe();
  });
});
