/**
 * Browser tests (Debian's /usr/bin/chromium via playwright-core) against the running stack
 * (devstack's stackTest: webapp, shape-sync and the worker as child processes, on real Postgres). The example pages are built with
 * Vite and served from a different origin (http://localhost:<port>) than the API (http://127.0.0.1:<port>).
 *
 * - examples/react-page with @runfeed/react-hooks, and the same page with the unmodified
 *   @trigger.dev/react-hooks@4.8.3: status QUEUED → EXECUTING → COMPLETED with a public token, a tab
 *   hide/show survived, no console errors (CORS, missing headers), no request left open after completion;
 *   on each realtime backend: the native pass talks to a second webapp serving run feeds natively, with
 *   no shape server behind it (docs/decisions/073-realtime-notifier-backend.md);
 * - examples/realtime-plain-js: the SDK from plain browser JavaScript.
 */
import { createReadStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "@runfeed/devstack/browser";
import { stackTest, setupStack, type DevStack } from "@runfeed/devstack/fixtures";
import { afterAll, beforeAll, describe, expect, vi } from "vitest";
import { auth, batch, runs, tasks } from "@runfeed/sdk";
import { buildReactPage } from "../../../examples/react-page/build.js";
import { buildPlainJsPage } from "../../../examples/realtime-plain-js/build.js";

const CONTENT_TYPES: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css" };

/** A static server for a built page, on its own origin. */
async function serveStatic(root: string): Promise<{ origin: string; server: Server }> {
  const server = createServer(async (req, res) => {
    const pathname = new URL(req.url!, "http://x").pathname;
    const file = path.join(root, pathname === "/" ? "index.html" : path.normalize(pathname));
    if (!file.startsWith(root) || !(await stat(file).catch(() => undefined))?.isFile()) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPES[path.extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { origin: `http://localhost:${(server.address() as AddressInfo).port}`, server };
}

/** Console errors, page errors and failed requests (aborted long-polls excepted), plus open feed requests. */
function watchPage(page: Page) {
  const problems: string[] = [];
  const openFeedRequests = new Set<unknown>();
  let feedRequests = 0;
  if (process.env.DEBUG_E2E) {
    page.on("console", (m) => console.log("[console]", m.type(), m.text()));
    page.on("response", (r) => console.log("[response]", r.status(), r.request().method(), r.url()));
    page.on("requestfailed", (r) => console.log("[failed]", r.url(), r.failure()?.errorText));
  }
  page.on("console", (message) => {
    if (message.type() === "error" || /CORS|Access-Control|MissingHeaders|required headers/i.test(message.text()))
      problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("request", (request) => {
    if (!request.url().includes("/realtime/v1/") || request.method() !== "GET") return;
    feedRequests++;
    openFeedRequests.add(request);
  });
  page.on("requestfinished", (request) => openFeedRequests.delete(request));
  page.on("requestfailed", (request) => {
    openFeedRequests.delete(request);
    const failure = request.failure()?.errorText ?? "";
    if (!failure.includes("ERR_ABORTED")) problems.push(`requestfailed: ${request.url()} ${failure}`);
  });
  return { problems, openFeedRequests, feedRequests: () => feedRequests };
}

async function setVisibility(page: Page, state: "hidden" | "visible") {
  await page.evaluate((value) => {
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => value });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => value === "hidden" });
    document.dispatchEvent(new Event("visibilitychange"));
  }, state);
}

setupStack();

let browser: Browser;
let buildDir: string;
const servers: Server[] = [];
const pages: Record<"runfeed" | "trigger" | "plain", string> = { runfeed: "", trigger: "", plain: "" };

beforeAll(async () => {
  buildDir = await mkdtemp(path.join(tmpdir(), "runfeed-pages-"));
  [browser] = await Promise.all([launchChromium(), buildReactPage("runfeed", path.join(buildDir, "runfeed"))]);
  await buildReactPage("trigger", path.join(buildDir, "trigger"));
  await buildPlainJsPage(path.join(buildDir, "plain"));
  for (const name of ["runfeed", "trigger", "plain"] as const) {
    const { origin, server } = await serveStatic(path.join(buildDir, name));
    servers.push(server);
    pages[name] = origin;
  }
}, 180_000);

afterAll(async () => {
  await browser?.close();
  for (const server of servers) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  if (buildDir) await rm(buildDir, { recursive: true, force: true });
});

type Backend = "electric" | "native";
/** The native pass's webapp (started on first use): run feeds served natively, no shape server behind it. */
let nativeWebapp: Promise<string> | undefined;

/**
 * The API origin the page talks to on `backend` (docs/decisions/073-realtime-notifier-backend.md): the
 * stack's webapp (shape server), or a second one on the same database and Redis with
 * REALTIME_BACKEND=native and ELECTRIC_ORIGIN pointing at a closed port.
 */
function apiOf(stack: DevStack, backend: Backend): Promise<string> {
  if (backend === "electric") return Promise.resolve(stack.baseURL);
  nativeWebapp ??= stack
    .spawnWebapp({ REALTIME_BACKEND: "native", ELECTRIC_ORIGIN: "http://127.0.0.1:9" })
    .then((webapp) => webapp.url);
  return nativeWebapp;
}

/** The worker signals the native feeds when they are in use (its status changes wake them). */
const workerOn = (stack: DevStack, backend: Backend) => stack.startWorker({ REALTIME_BACKEND: backend });

async function queuedRunWithToken(stack: DevStack, baseURL = stack.baseURL) {
  await stack.stopWorker();
  const server = { baseURL, accessToken: stack.secretKey };
  const { id } = await tasks.trigger("hello-world", { name: "browser", delayMs: 2500 }, {}, server);
  const token = await auth.createPublicToken({ ...server, scopes: { read: { runs: [id] } } });
  return { id, token };
}

describe.each([
  ["@runfeed/react-hooks", "electric", "runfeed"],
  ["@trigger.dev/react-hooks@4.8.3", "electric", "trigger"],
  ["@runfeed/react-hooks", "native", "runfeed"],
  ["@trigger.dev/react-hooks@4.8.3", "native", "trigger"],
] as const)("examples/react-page built with %s (%s backend)", (_label, backend, variant) => {
  stackTest(
    "shows QUEUED → EXECUTING → COMPLETED from another origin, across a tab hide/show",
    {
      timeout: 60_000,
    },
    async ({ stack }) => {
      const baseURL = await apiOf(stack, backend);
      const { id, token } = await queuedRunWithToken(stack, baseURL);
      const page = await browser.newPage();
      const watched = watchPage(page);
      const url = `${pages[variant]}/?${new URLSearchParams({ runId: id, token, baseURL })}`;
      expect(new URL(url).origin).not.toBe(new URL(baseURL).origin);
      await page.goto(url);
      const status = page.getByTestId("status");
      await vi.waitFor(async () => expect(await status.textContent()).toBe("QUEUED"), {
        timeout: 15_000,
        interval: 100,
      });

      // Hide the tab: the live request is abandoned. Show it again: the feed resumes with a new request.
      await vi.waitFor(() => expect(watched.openFeedRequests.size).toBe(1), { timeout: 10_000, interval: 50 });
      await setVisibility(page, "hidden");
      await vi.waitFor(() => expect(watched.openFeedRequests.size).toBe(0), { timeout: 10_000, interval: 50 });
      const beforeShow = watched.feedRequests();
      await setVisibility(page, "visible");
      await vi.waitFor(() => expect(watched.feedRequests()).toBeGreaterThan(beforeShow), {
        timeout: 10_000,
        interval: 50,
      });

      workerOn(stack, backend);
      await vi.waitFor(async () => expect(await status.textContent()).toBe("COMPLETED"), {
        timeout: 30_000,
        interval: 100,
      });
      expect(await page.getByTestId("history").textContent()).toBe("QUEUED → EXECUTING → COMPLETED");
      expect(await page.getByTestId("output").textContent()).toBe(JSON.stringify({ greeting: "Hello, browser!" }));
      expect(await page.getByTestId("finished").textContent()).toMatch(/^\d{4}-\d\d-\d\dT/);
      if (variant === "runfeed") expect(await page.getByTestId("completions").textContent()).toBe("1");
      expect(await page.getByTestId("error").count()).toBe(0);

      // Stopped on completion: no feed request stays open.
      await vi.waitFor(() => expect(watched.openFeedRequests.size).toBe(0), { timeout: 10_000, interval: 50 });
      expect(watched.problems).toEqual([]);
      await page.close();
    },
  );

  stackTest(
    "lists runs by tag and by batch live (useRealtimeRunsWithTag, useRealtimeBatch)",
    {
      timeout: 60_000,
    },
    async ({ stack }) => {
      const baseURL = await apiOf(stack, backend);
      const server = { baseURL, accessToken: stack.secretKey };
      const tag = `e2e:${variant}:${Math.random().toString(36).slice(2, 8)}`;
      const first = await tasks.trigger("hello-world", {}, { tags: [tag], delay: "1h" }, server);
      const tagToken = await auth.createPublicToken({ ...server, scopes: { read: { tags: [tag] } } });
      const page = await browser.newPage();
      const watched = watchPage(page);
      await page.goto(`${pages[variant]}/?${new URLSearchParams({ tag, token: tagToken, baseURL })}`);
      await vi.waitFor(async () => expect(await page.getByTestId(`run-${first.id}`).textContent()).toBe("DELAYED"), {
        timeout: 15_000,
        interval: 100,
      });
      // A run created after the page subscribed arrives live.
      const second = await tasks.trigger("hello-world", {}, { tags: [tag], delay: "1h" }, server);
      await vi.waitFor(async () => expect(await page.getByTestId(`run-${second.id}`).textContent()).toBe("DELAYED"), {
        timeout: 15_000,
        interval: 100,
      });
      expect(await page.getByTestId("count").textContent()).toBe("2");

      const created = await batch.trigger(
        [
          { task: "hello-world", options: { delay: "1h" } },
          { task: "hello-world", options: { delay: "1h" } },
        ],
        {},
        server,
      );
      await page.goto(
        `${pages[variant]}/?${new URLSearchParams({ batchId: created.batchId, token: created.publicAccessToken!, baseURL })}`,
      );
      await vi.waitFor(async () => expect(await page.getByTestId("count").textContent()).toBe("2"), {
        timeout: 15_000,
        interval: 100,
      });
      // A change driven through the API shows up in the list.
      const [one] = await page
        .locator("li[data-testid^='run-']")
        .evaluateAll((items) => items.map((li) => li.getAttribute("data-testid")!.slice(4)));
      await runs.cancel(one!, server);
      await vi.waitFor(async () => expect(await page.getByTestId(`run-${one}`).textContent()).toBe("CANCELED"), {
        timeout: 15_000,
        interval: 100,
      });
      expect(await page.getByTestId("error").count()).toBe(0);
      expect(watched.problems).toEqual([]);
      await page.close();
    },
  );
});

describe.each([
  ["@runfeed/react-hooks", "runfeed"],
  ["@trigger.dev/react-hooks@4.8.3", "trigger"],
] as const)("realtime streams in the page built with %s", (_label, variant) => {
  async function llmRun(stack: DevStack) {
    await stack.stopWorker();
    const server = { baseURL: stack.baseURL, accessToken: stack.secretKey };
    const { id } = await tasks.trigger("llm-demo", { prompt: variant, tokensPerSecond: 150, seconds: 1 }, {}, server);
    const token = await auth.createPublicToken({ ...server, scopes: { read: { runs: [id] } } });
    return { id, token, server };
  }

  async function answerOf(id: string, server: { baseURL: string; accessToken: string }) {
    const run = await runs.retrieve(id, server);
    return run.output as { text: string; sentences: number };
  }

  stackTest(
    "useRealtimeStream shows the llm-demo answer accumulating, from another origin",
    { timeout: 60_000 },
    async ({ stack }) => {
      const { id, token, server } = await llmRun(stack);
      const page = await browser.newPage();
      const watched = watchPage(page);
      await page.goto(
        `${pages[variant]}/?${new URLSearchParams({ runId: id, stream: "llm", token, baseURL: stack.baseURL })}`,
      );
      await vi.waitFor(() => expect(watched.openFeedRequests.size).toBe(1), { timeout: 15_000, interval: 50 });
      stack.startWorker();
      const counts = new Set<string>();
      await vi.waitFor(
        async () => {
          counts.add((await page.getByTestId("count").textContent()) ?? "");
          expect((await runs.retrieve(id, server)).isCompleted).toBe(true);
        },
        { timeout: 30_000, interval: 50 },
      );
      const { text } = await answerOf(id, server);
      await vi.waitFor(async () => expect((await page.getByTestId("text").textContent())?.trim()).toBe(text), {
        timeout: 15_000,
        interval: 100,
      });
      expect(counts.size).toBeGreaterThan(3); // seen growing, not all at once
      expect(await page.getByTestId("error").count()).toBe(0);
      // The stream ended with its run: the reader's request is closed.
      await vi.waitFor(() => expect(watched.openFeedRequests.size).toBe(0), { timeout: 15_000, interval: 50 });
      expect(watched.problems).toEqual([]);
      await page.close();
    },
  );

  stackTest(
    "useRealtimeRunWithStreams shows the run and both of its streams",
    { timeout: 60_000 },
    async ({ stack }) => {
      const { id, token, server } = await llmRun(stack);
      const page = await browser.newPage();
      const watched = watchPage(page);
      await page.goto(
        `${pages[variant]}/?${new URLSearchParams({ runId: id, withStreams: "1", token, baseURL: stack.baseURL })}`,
      );
      await vi.waitFor(async () => expect(await page.getByTestId("status").textContent()).toBe("QUEUED"), {
        timeout: 15_000,
        interval: 100,
      });
      stack.startWorker();
      await vi.waitFor(async () => expect(await page.getByTestId("status").textContent()).toBe("COMPLETED"), {
        timeout: 30_000,
        interval: 100,
      });
      const { text, sentences } = await answerOf(id, server);
      await vi.waitFor(async () => expect((await page.getByTestId("stream-llm").textContent())?.trim()).toBe(text), {
        timeout: 15_000,
        interval: 100,
      });
      const parts = ((await page.getByTestId("stream-sentences").textContent()) ?? "").split("\n");
      expect(parts.map((p) => (JSON.parse(p) as { index: number }).index)).toEqual(
        [...Array(sentences).keys()].map((i) => i + 1),
      );
      expect(await page.getByTestId("error").count()).toBe(0);
      expect(watched.problems).toEqual([]);
      await page.close();
    },
  );
});

describe("examples/realtime-plain-js", () => {
  stackTest(
    "subscribes from plain browser JavaScript and ends when the run completes",
    { timeout: 60_000 },
    async ({ stack }) => {
      const { id, token } = await queuedRunWithToken(stack);
      const page = await browser.newPage();
      const watched = watchPage(page);
      await page.goto(`${pages.plain}/?${new URLSearchParams({ runId: id, token, baseURL: stack.baseURL })}`);
      await vi.waitFor(async () => expect(await page.locator("#status").textContent()).toBe("QUEUED"), {
        timeout: 15_000,
        interval: 100,
      });
      stack.startWorker();
      await vi.waitFor(async () => expect(await page.locator("#status").getAttribute("data-ended")).toBe("true"), {
        timeout: 30_000,
        interval: 100,
      });
      expect(await page.locator("#status").textContent()).toBe("COMPLETED");
      const log = await page.locator("#log li").allTextContents();
      expect(log.at(-1)).toContain('COMPLETED {"greeting":"Hello, browser!"}');
      expect(await page.locator("#error").textContent()).toBe("");
      expect(watched.problems).toEqual([]);
      await page.close();
    },
  );
});
