/** The fetch decorators against a stub fetch (pure unit tests of the decorators only). */
import { describe, expect, it } from "vitest";
import {
  AuthenticationError,
  ConnectionError,
  createFetchWithErrors,
  createFetchWithRetry,
  NotFoundError,
  PermissionDeniedError,
  RateLimitError,
} from "../src/index.js";
import { backoffDelayMs, RetryDefaults, serverDelayMs } from "../src/fetch.js";

const fast = { initialDelayMs: 1, maxDelayMs: 2, random: () => 0 };

function scripted(responses: Array<Response | Error>) {
  const calls: RequestInit[] = [];
  const fn = (async (_input: RequestInfo | URL, init?: RequestInit) => {
    calls.push(init ?? {});
    const next = responses.shift();
    if (!next) throw new Error("no more scripted responses");
    if (next instanceof Error) throw next;
    return next;
  }) as typeof fetch;
  return { fn, calls };
}

describe("createFetchWithRetry", () => {
  it("retries 5xx, 429, 408 and network errors, then succeeds", async () => {
    const { fn, calls } = scripted([
      new Response("", { status: 503 }),
      new TypeError("fetch failed"),
      new Response("", { status: 429 }),
      new Response("ok"),
    ]);
    const response = await createFetchWithRetry(fn, fast)("http://x/a", { method: "POST", body: "b" });
    expect(await response.text()).toBe("ok");
    expect(calls).toHaveLength(4);
    expect(calls.every((c) => c.body === "b")).toBe(true);
  });

  it("does not retry 4xx (except 408/409/429) and honours x-should-retry", async () => {
    const notFound = scripted([new Response("", { status: 404 })]);
    expect((await createFetchWithRetry(notFound.fn, fast)("http://x")).status).toBe(404);
    expect(notFound.calls).toHaveLength(1);

    const forced = scripted([
      new Response("", { status: 404, headers: { "x-should-retry": "true" } }),
      new Response("found"),
    ]);
    expect(await (await createFetchWithRetry(forced.fn, fast)("http://x")).text()).toBe("found");

    const vetoed = scripted([new Response("", { status: 500, headers: { "x-should-retry": "false" } })]);
    expect((await createFetchWithRetry(vetoed.fn, fast)("http://x")).status).toBe(500);
  });

  it("gives up after maxAttempts: last response returned, network failure as ConnectionError", async () => {
    const always500 = scripted(Array.from({ length: 3 }, () => new Response("", { status: 500 })));
    expect((await createFetchWithRetry(always500.fn, { ...fast, maxAttempts: 3 })("http://x")).status).toBe(500);
    expect(always500.calls).toHaveLength(3);

    const down = scripted([new TypeError("a"), new TypeError("b")]);
    await expect(createFetchWithRetry(down.fn, { ...fast, maxAttempts: 2 })("http://x/y")).rejects.toBeInstanceOf(
      ConnectionError,
    );
  });

  it("stops waiting as soon as the caller aborts", async () => {
    const controller = new AbortController();
    const { fn } = scripted([new Response("", { status: 503 })]);
    const pending = createFetchWithRetry(fn, { initialDelayMs: 60_000, maxDelayMs: 60_000, random: () => 1 })(
      "http://x",
      { signal: controller.signal },
    );
    controller.abort(new DOMException("stop", "AbortError"));
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
  });

  it("uses Retry-After and x-ratelimit-reset as a lower bound; full jitter otherwise", () => {
    expect(serverDelayMs(new Response("", { headers: { "retry-after": "3" } }), 0)).toBe(3000);
    expect(serverDelayMs(new Response("", { headers: { "x-ratelimit-reset": "5000" } }), 1000)).toBe(4000);
    expect(backoffDelayMs(0, { ...RetryDefaults, random: () => 0 }, 2500)).toBe(2500);
    expect(backoffDelayMs(3, { ...RetryDefaults, random: () => 1 })).toBeCloseTo(1000 * 1.6 ** 3);
    expect(backoffDelayMs(30, { ...RetryDefaults, random: () => 1 })).toBe(30_000);
  });
});

describe("createFetchWithErrors", () => {
  it.each([
    [401, AuthenticationError, /access token/],
    [403, PermissionDeniedError, /scopes/],
    [404, NotFoundError, /not found/],
    [429, RateLimitError, /rate limiting/],
  ])("turns %i into %o with an actionable message", async (status, ErrorClass, message) => {
    const { fn } = scripted([Response.json({ error: "server says no" }, { status })]);
    const error = await createFetchWithErrors(fn)("http://x/api/v3/runs/run_1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({ status, name: ErrorClass.name, serverMessage: "server says no" });
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain("http://x/api/v3/runs/run_1");
  });
});
