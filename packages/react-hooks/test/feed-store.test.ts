/**
 * The hooks' external store against a real local Electric-protocol server (the SDK's scripted feed):
 * opens on the first listener, closes on the last (unmount), never reopens after the run finished,
 * onComplete exactly once and only with finishedAt set.
 */
import { describe, expect, vi } from "vitest";
import { ConfigurationError, PermissionDeniedError, runs, type RealtimeRun } from "@runfeed/sdk";
import { FeedStore } from "../src/index.js";
import { feedTest, wireRun, type ScriptedFeed } from "@runfeed/devstack/fixtures";

const openRun =
  (feed: ScriptedFeed, extra: Record<string, unknown> = {}) =>
  () =>
    // The scripted feed answers long-polls.
    runs.subscribeToRun("run_1", { baseURL: feed.baseURL, accessToken: "t", liveSse: false, ...extra });

describe("FeedStore", () => {
  feedTest("makes no request before a listener attaches", async ({ feed }) => {
    feed.snapshot = [wireRun()];
    const store = new FeedStore({ open: openRun(feed) });
    expect(store.getSnapshot()).toMatchObject({ runs: [], ended: false });
    expect(feed.requests).toHaveLength(0);
  });

  feedTest(
    "follows the run, calls onComplete once with the finished run, and never reopens afterwards",
    async ({ feed }) => {
      feed.snapshot = [wireRun()];
      const completed: RealtimeRun[] = [];
      const store = new FeedStore({ open: openRun(feed), onComplete: (run) => completed.push(run) });
      const statuses: string[] = [];
      const detach = store.subscribe(() => {
        const run = store.getSnapshot().runs[0];
        if (run && statuses.at(-1) !== run.status) statuses.push(run.status);
      });
      await vi.waitFor(() => expect(statuses).toEqual(["QUEUED"]));
      feed.push([wireRun({ status: "EXECUTING" })]);
      await vi.waitFor(() => expect(statuses).toEqual(["QUEUED", "EXECUTING"]));
      expect(completed).toHaveLength(0);
      feed.push([wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })]);
      await vi.waitFor(() => expect(store.getSnapshot().ended).toBe(true));
      expect(statuses).toEqual(["QUEUED", "EXECUTING", "COMPLETED"]);
      expect(completed.map((r) => r.status)).toEqual(["COMPLETED"]);
      expect(completed[0]!.finishedAt).toBeInstanceOf(Date);

      const requestsAtEnd = feed.requests.length;
      detach();
      store.subscribe(() => {}); // a remount after completion
      expect(feed.requests.length).toBe(requestsAtEnd);
      expect(feed.pendingLive()).toBe(0);
      expect(completed).toHaveLength(1);
    },
  );

  feedTest("does not call onComplete for a canceled-but-unfinished or running run", async ({ feed }) => {
    feed.snapshot = [wireRun({ status: "CANCELED" })];
    const onComplete = vi.fn();
    const store = new FeedStore({ open: openRun(feed), onComplete });
    const detach = store.subscribe(() => {});
    await vi.waitFor(() => expect(store.getSnapshot().runs[0]?.status).toBe("CANCELED"));
    expect(onComplete).not.toHaveBeenCalled();
    detach();
  });

  feedTest(
    "closes the request on the last unsubscribe (unmount) and reopens on a new listener (StrictMode)",
    async ({ feed }) => {
      feed.snapshot = [wireRun()];
      const store = new FeedStore({ open: openRun(feed) });
      const detach = store.subscribe(() => {});
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
      detach();
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(0));
      expect(feed.requests.at(-1)!.aborted).toBe(true);
      expect(store.getSnapshot().ended).toBe(false);
      const again = store.subscribe(() => {});
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
      again();
    },
  );

  feedTest("stop() ends the feed and keeps the last run", async ({ feed }) => {
    feed.snapshot = [wireRun()];
    const store = new FeedStore({ open: openRun(feed) });
    store.subscribe(() => {});
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
    store.stop();
    await vi.waitFor(() => expect(feed.pendingLive()).toBe(0));
    expect(store.getSnapshot()).toMatchObject({ ended: true, error: undefined });
    expect(store.getSnapshot().runs).toHaveLength(1);
  });

  feedTest("surfaces typed errors: a 403 from the feed, and a missing token before any request", async ({ feed }) => {
    feed.failNext(403, { error: "Unauthorized" });
    const denied = new FeedStore({ open: openRun(feed) });
    denied.subscribe(() => {});
    await vi.waitFor(() => expect(denied.getSnapshot().error).toBeInstanceOf(PermissionDeniedError));

    const noToken = new FeedStore({ open: () => runs.subscribeToRun("run_1", { baseURL: feed.baseURL }) });
    noToken.subscribe(() => {});
    expect(noToken.getSnapshot().error).toBeInstanceOf(ConfigurationError);
    expect(feed.requests).toHaveLength(1);
  });

  feedTest(
    "with a limit keeps the newest runs, newest first, as they change (the environment-wide feed)",
    async ({ feed }) => {
      feed.snapshot = [
        wireRun({ id: "a", friendlyId: "run_a", createdAt: "2026-06-06T10:00:01.000" }),
        wireRun({ id: "b", friendlyId: "run_b", createdAt: "2026-06-06T10:00:03.000" }),
        wireRun({ id: "c", friendlyId: "run_c", createdAt: "2026-06-06T10:00:02.000" }),
      ];
      const store = new FeedStore({
        open: () => runs.subscribeToRuns({ baseURL: feed.baseURL, accessToken: "t", liveSse: false }),
        limit: 2,
      });
      const ids = () => store.getSnapshot().runs.map((r) => `${r.id}:${r.status}`);
      const detach = store.subscribe(() => {});
      await vi.waitFor(() => expect(ids()).toEqual(["run_b:QUEUED", "run_c:QUEUED"]));
      feed.push([
        wireRun({ id: "d", friendlyId: "run_d", createdAt: "2026-06-06T10:00:04.000" }),
        wireRun({ id: "c", friendlyId: "run_c", createdAt: "2026-06-06T10:00:02.000", status: "EXECUTING" }),
      ]);
      await vi.waitFor(() => expect(ids()).toEqual(["run_d:QUEUED", "run_b:QUEUED"]));
      expect(feed.requests[0]!.url.searchParams.has("tags")).toBe(false);
      detach();
    },
  );

  feedTest(
    "shows the connection state, and keeps the runs across a refused token that is renewed",
    async ({ feed }) => {
      feed.snapshot = [wireRun()];
      const connections: string[] = [];
      let renewals = 0;
      const store = new FeedStore({
        open: openRun(feed, { onTokenRefused: async () => `renewed-${++renewals}` }),
      });
      expect(store.getSnapshot().connection).toBe("connecting");
      const detach = store.subscribe(() => {
        const { connection } = store.getSnapshot();
        if (connections.at(-1) !== connection) connections.push(connection);
      });
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(1));
      feed.failNext(401, { error: "Token expired" });
      feed.push([wireRun({ status: "EXECUTING" })]);
      // Electric paces the retry after the refusal (backoff with jitter).
      await vi.waitFor(() => expect(feed.pendingLive()).toBe(1), { timeout: 10_000 });
      feed.push([wireRun({ status: "COMPLETED_SUCCESSFULLY", completedAt: "2026-06-06T10:00:02.000" })]);
      await vi.waitFor(() => expect(store.getSnapshot().ended).toBe(true), { timeout: 10_000 });
      expect(connections).toEqual(["connecting", "live", "refused", "reconnecting", "live", "completed"]);
      expect(renewals).toBe(1);
      expect(feed.requests.at(-1)!.authorization).toBe("Bearer renewed-1");
      expect(store.getSnapshot().runs.map((r) => r.status)).toEqual(["COMPLETED"]);
      expect(store.getSnapshot().error).toBeUndefined();
      detach();
    },
  );
});
