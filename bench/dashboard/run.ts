/**
 * The dashboard: lag from a database commit to the runs table in Chromium, beside the realtime feed's own lag.
 *
 * `--runs` runs (default 500) change `--rate` times per second in
 * total (default 500, i.e. each run once a second) for `--seconds` (default 60) while the runs page
 * is open in Chromium with all of them on screen. For every change the writer records when its
 * COMMIT returned; the page records (MutationObserver) when the row's `data-updated-at` first shows
 * that change. Lag = seen − committed, same machine clock. Prints p50/p90/p99/max and misses.
 *
 *   pnpm bench dashboard [--seconds 60] [--rate 500] [--runs 500] [--dev]
 *
 * Measures the production bundle (built first when stale, as `pnpm start` does); --dev measures the
 * Vite dev server.
 * Uses DATABASE_URL / REDIS_URL when set, else embedded Postgres and a spawned redis-server.
 */
import pg from "pg";
import { generateRunFriendlyId } from "../../packages/core/src/ids.js";
import { seedDemoUser, seedProject } from "../../apps/webapp/app/services/seed.server.js";
import { launchChromium } from "../../packages/devstack/src/browser.js";
import { WEBAPP_BUILD, ensureBuilt } from "../../packages/devstack/src/builds.js";
import { BenchReport, round } from "../report.js";
import { TIME_FEED_ARRIVALS } from "./feedArrivals.js";
import { startStack } from "./stack.js";

const arg = (name: string, fallback: number) => {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
};
const SECONDS = arg("seconds", 60);
const RATE = arg("rate", 500);
const RUNS = Math.min(arg("runs", 500), 500);
const TICK_MS = 20;

const MODE = process.argv.includes("--dev") ? "development" : "production";
if (MODE === "production") await ensureBuilt(WEBAPP_BUILD, (line) => console.log(line));
const stack = await startStack({ mode: MODE });
const browser = await launchChromium();
const report = new BenchReport("dashboard");
let failed = false;
const db = new pg.Client({ connectionString: stack.databaseUrl });
try {
  await db.connect();
  const { prisma } = stack.webapp.services;
  const project = await seedProject(prisma, {
    orgSlug: "bench",
    orgTitle: "Bench",
    projectSlug: "bench",
    projectName: "Bench",
  });
  const user = await seedDemoUser(prisma, { organizationIds: [project.organizationId], email: "bench@runfeed.dev" });
  const dev = project.environments.find((e) => e.slug === "dev")!;

  // The runs on screen, all executing.
  const ids: string[] = [];
  const friendly = new Map<string, string>();
  const created = await prisma.taskRun.createManyAndReturn({
    data: Array.from({ length: RUNS }, (_, i) => ({
      friendlyId: generateRunFriendlyId(),
      taskIdentifier: `bench-task-${i % 5}`,
      runtimeEnvironmentId: dev.id,
      projectId: project.projectId,
      status: "EXECUTING" as const,
      queuedAt: new Date(),
      startedAt: new Date(),
      payload: "{}",
      metadata: JSON.stringify({ processed: 0, total: SECONDS }),
      runTags: [`bench:${i % 10}`],
    })),
    select: { id: true, friendlyId: true },
  });
  for (const run of created) {
    ids.push(run.id);
    friendly.set(run.id, run.friendlyId);
  }

  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.on("pageerror", (error) => console.error("[browser] page error:", error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !message.text().includes("WebSocket"))
      console.error("[browser]", message.text().slice(0, 300));
  });
  await page.goto(`${stack.webappUrl}/login`);
  await page.fill('input[name="email"]', user.email);
  await page.fill('input[name="password"]', user.password);
  await page.click('button[type="submit"]');
  await page.waitForURL(/\/runs$/);
  // When each change reached the browser over the realtime feed, to split feed lag from render lag.
  await page.addInitScript({ content: TIME_FEED_ARRIVALS });
  await page.goto(`${stack.webappUrl}/orgs/bench/projects/bench/env/dev/runs?limit=${RUNS}&range=1h`);
  await page.waitForSelector('[data-live-state="live"]', { timeout: 60_000 });
  await page.waitForFunction((n) => document.querySelectorAll("tr[data-run-id]").length === n, RUNS, {
    timeout: 60_000,
  });
  await page.evaluate(() => {
    const seen: Array<[string, string, number]> = [];
    (window as unknown as { __seen: typeof seen }).__seen = seen;
    new MutationObserver((mutations) => {
      const at = performance.timeOrigin + performance.now();
      for (const mutation of mutations) {
        const row = mutation.target as HTMLElement;
        if (mutation.attributeName === "data-updated-at") seen.push([row.dataset.runId!, row.dataset.updatedAt!, at]);
      }
    }).observe(document.querySelector("tbody")!, {
      subtree: true,
      attributes: true,
      attributeFilter: ["data-updated-at"],
    });
  });
  console.log(`runs page open with ${RUNS} live rows; writing ${RATE} changes/s for ${SECONDS} s…`);

  // The shape server's own view: replication slot lag and applied changes, sampled every 2 s.
  const slotLag: number[] = [];
  const sampler = setInterval(async () => {
    try {
      const text = await (await fetch(`${stack.shapeOrigin}/metrics`)).text();
      const lag = /^shape_sync_replication_slot_lag_bytes\s+(\S+)/m.exec(text)?.[1];
      if (lag !== undefined) slotLag.push(Number(lag));
    } catch {
      // not reporting
    }
  }, 2000);

  // Writer: every tick, the next slice of runs (round-robin) in one UPDATE; ack time = COMMIT returned.
  const committed = new Map<string, number>();
  const perTick = RATE * (TICK_MS / 1000);
  let carry = 0;
  let cursor = 0;
  let tick = 0;
  let behind = 0;
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    const due = started + tick * TICK_MS;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    else if (wait < -TICK_MS) behind++;
    tick++;
    carry += perTick;
    const count = Math.floor(carry);
    carry -= count;
    if (count === 0) continue;
    const batch: string[] = [];
    for (let i = 0; i < count; i++) batch.push(ids[(cursor + i) % ids.length]!);
    cursor = (cursor + count) % ids.length;
    const second = Math.floor((Date.now() - started) / 1000);
    const result = await db.query<{ id: string; updatedAt: Date }>(
      `UPDATE "TaskRun"
          SET "updatedAt" = (clock_timestamp() AT TIME ZONE 'UTC'),
              "usageDurationMs" = "usageDurationMs" + 1,
              metadata = json_build_object('processed', $2::int, 'total', $3::int)::text
        WHERE id = ANY($1) RETURNING id, "updatedAt"`,
      [batch, second, SECONDS],
    );
    const ack = Date.now();
    for (const row of result.rows) committed.set(`${friendly.get(row.id)}|${row.updatedAt.getTime()}`, ack);
  }
  const writeSeconds = (Date.now() - started) / 1000;
  clearInterval(sampler);
  await new Promise((resolve) => setTimeout(resolve, 3000));

  const seen =
    (await page.evaluate(() => (window as unknown as { __seen: Array<[string, string, number]> }).__seen)) ?? [];
  const firstSeen = new Map<string, number>();
  for (const [runId, updatedAt, at] of seen) {
    const key = `${runId}|${updatedAt}`;
    if (!firstSeen.has(key)) firstSeen.set(key, at);
  }
  const lags: number[] = [];
  for (const [key, ack] of committed) {
    const at = firstSeen.get(key);
    if (at !== undefined) lags.push(at - ack);
  }
  lags.sort((a, b) => a - b);
  const arrivals =
    (await page.evaluate(() => (window as unknown as { __arrived?: Array<[string, string, number]> }).__arrived)) ?? [];
  const arrived = new Map<string, number>();
  for (const [id, updatedAt, at] of arrivals) {
    // Updates may carry only the primary key and the changed columns: map the id back.
    const key = `${friendly.get(id)}|${Date.parse(`${updatedAt.replace(" ", "T")}Z`)}`;
    if (!arrived.has(key)) arrived.set(key, at);
  }
  const feedLags: number[] = [];
  for (const [key, ack] of committed) {
    const at = arrived.get(key);
    if (at !== undefined) feedLags.push(at - ack);
  }
  feedLags.sort((a, b) => a - b);
  const fq = (p: number) => feedLags[Math.min(feedLags.length - 1, Math.floor(p * feedLags.length))] ?? NaN;
  const q = (p: number) => lags[Math.min(lags.length - 1, Math.floor(p * lags.length))] ?? NaN;
  const within1s = lags.filter((lag) => lag <= 1000).length;
  const missed = committed.size - lags.length;
  console.log(
    `\n== dashboard lag: browser table vs database commit (${RUNS} runs, ${RATE} changes/s target, ${SECONDS} s, ${MODE} bundle)`,
  );
  console.log(
    `changes committed:     ${committed.size.toLocaleString("en-US")} in ${writeSeconds.toFixed(1)} s (${Math.round(committed.size / writeSeconds)}/s; writer late on ${behind} ticks)`,
  );
  console.log(
    `changes shown:         ${lags.length.toLocaleString("en-US")} (${missed} superseded before they were drawn)`,
  );
  console.log(`lag p50 / p90 / p99:   ${q(0.5).toFixed(0)} / ${q(0.9).toFixed(0)} / ${q(0.99).toFixed(0)} ms`);
  console.log(`lag max:               ${lags.at(-1)?.toFixed(0)} ms`);
  console.log(
    `feed only (network):   ${feedLags.length.toLocaleString("en-US")} changes; p50 / p99 / max ${fq(0.5).toFixed(0)} / ${fq(0.99).toFixed(0)} / ${feedLags.at(-1)?.toFixed(0)} ms`,
  );
  if (slotLag.length)
    console.log(
      `shape-sync slot lag:   max ${Math.max(...slotLag).toLocaleString("en-US")} B, last ${slotLag.at(-1)!.toLocaleString("en-US")} B (sampled every 2 s)`,
    );
  console.log(
    `within 1 s:            ${((within1s / Math.max(1, committed.size)) * 100).toFixed(2)}% of committed changes ${q(0.99) <= 1000 && missed / Math.max(1, committed.size) < 0.01 ? "PASS" : "FAIL"} (goal: p99 ≤ 1000 ms)`,
  );
  report.add("lag", {
    runs: RUNS,
    targetChangesPerSecond: RATE,
    seconds: SECONDS,
    mode: MODE,
    committed: committed.size,
    committedPerSecond: round(committed.size / writeSeconds),
    writerLateTicks: behind,
    shown: lags.length,
    superseded: missed,
    lagP50Ms: round(q(0.5)),
    lagP90Ms: round(q(0.9)),
    lagP99Ms: round(q(0.99)),
    lagMaxMs: round(lags.at(-1) ?? Number.NaN),
    feedChanges: feedLags.length,
    feedLagP50Ms: round(fq(0.5)),
    feedLagP99Ms: round(fq(0.99)),
    feedLagMaxMs: round(feedLags.at(-1) ?? Number.NaN),
    slotLagMaxBytes: slotLag.length ? Math.max(...slotLag) : null,
    within1sPercent: round((within1s / Math.max(1, committed.size)) * 100, 2),
  });
} catch (error) {
  failed = true;
  console.error(error);
  process.exitCode = 1;
} finally {
  await db.end().catch(() => {});
  await browser.close().catch(() => {});
  await stack.stop();
}
if (!failed) report.print();
