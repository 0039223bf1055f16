/**
 * The shape server: ingest, commit-to-client latency, matching, memory at scale, recovery, compaction.
 * Loopback only, bounded in time; every figure beside a raw limit measured in the same run (bench/README.md).
 *
 *   pnpm bench shape-sync [--full] [--only ingest|decode|latency|matching|scale|compaction]
 *     --updates N          ingest updates            (default 200000)
 *     --decode-updates N   decode updates            (default 20000; the WAL is held in memory)
 *     --latency-shapes N   shapes with a live client (default 1000)
 *     --rate N             updates/s in the latency run (default 1000)
 *     --duration S         latency measurement seconds (default 10; --full 60)
 *     --shapes N           scale/restart shapes      (default 2000; --full 10000)
 *     --compact-messages N compaction log messages   (default 50000, over 1,000 keys)
 * Server processes inherit ELECTRIC_* variables, e.g. ELECTRIC_COMPACTION_THRESHOLD_BYTES=65536 with
 * `--only latency --latency-shapes 10` runs the latency figure with compactions happening throughout.
 * Uses DATABASE_URL (a database with wal_level=logical that we may write to) when set, else starts
 * embedded Postgres in a temp dir and creates a database.
 */
import pg from "pg";
import { createDatabase, postgresServer } from "../../packages/devstack/src/services.js";
import { migrate } from "../../packages/database/src/migrate.js";
import { BenchReport, round } from "../report.js";
import { fmt } from "./common.js";
import { benchIngest } from "./ingest.js";
import { benchLatency } from "./latency.js";
import { benchScale } from "./scale.js";
import { benchMatching } from "./matching.js";
import { benchCompaction } from "./compaction.js";
import { benchDecode } from "./decode.js";

const argv = process.argv.slice(2);
const flag = (name: string) => argv.includes(`--${name}`);
const num = (name: string, d: number) => (argv.includes(`--${name}`) ? Number(argv[argv.indexOf(`--${name}`) + 1]) : d);
const full = flag("full");
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const cfg = {
  updates: num("updates", 200_000),
  decodeUpdates: num("decode-updates", 20_000),
  latencyShapes: num("latency-shapes", 1000),
  rate: num("rate", 1000),
  duration: num("duration", full ? 60 : 10),
  shapes: num("shapes", full ? 10_000 : 2000),
  compactMessages: num("compact-messages", 50_000),
};

const stops: Array<() => Promise<void>> = [];
const report = new BenchReport("shape-sync");
let failed = false;
try {
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    const postgres = await postgresServer(undefined, "shape-sync-bench");
    stops.push(postgres.stop);
    databaseUrl = (await createDatabase(postgres.url, "bench_shape_sync")).url;
  }
  await migrate(databaseUrl);
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  await db.query(
    `ALTER TABLE "TaskRun" DROP CONSTRAINT IF EXISTS "TaskRun_runtimeEnvironmentId_fkey", DROP CONSTRAINT IF EXISTS "TaskRun_batchId_fkey"`,
  );
  await db.end();
  console.log(`shape-sync bench: ${JSON.stringify({ ...cfg, full })} on ${databaseUrl.replace(/\/\/[^@]*@/, "//")}`);

  if (!only || only === "ingest") {
    const r = await benchIngest(databaseUrl, cfg.updates);
    console.log(
      `\n== (1) ingest: ${fmt(r.updates)} row updates (TaskRun, 41 columns, REPLICA IDENTITY FULL) in 1,000-row transactions; 100 indexed shapes, each change matches one`,
    );
    console.log(
      `ingest: ours ${fmt(r.ours)} changes/s | raw pg_recvlogical ${fmt(r.raw)} changes/s | ratio ${(r.ours / r.raw).toFixed(2)} (goal ≥ 0.5, stretch ≥ 0.8); our CPU ${fmt(r.cpuPerChange, 1)} µs/change (${r.rawBin})`,
    );
    report.add("ingest", {
      updates: r.updates,
      oursChangesPerSecond: round(r.ours),
      rawChangesPerSecond: round(r.raw),
      ratio: round(r.ours / r.raw, 2),
      cpuPerChangeMicros: round(r.cpuPerChange, 1),
    });
  }
  if (!only || only === "decode") {
    const r = await benchDecode(databaseUrl, cfg.decodeUpdates);
    console.log(
      `\n== (1b) decode in Node: the same WAL (${fmt(r.updates)} TaskRun updates, ${fmt(r.messages)} pgoutput messages, ${fmt(r.walMB, 1)} MB) decoded from memory, best of 3`,
    );
    console.log(
      `decode: ours ${fmt(r.ours)} changes/s | raw pg-logical-replication PgoutputPlugin ${fmt(r.libraryText)} changes/s with text values (${fmt(r.libraryTyped)} as shipped, values parsed) | ratio ${(r.ours / r.libraryText).toFixed(2)}; Postgres decoding it server-side ${fmt(r.server)} changes/s`,
    );
    report.add("decode", {
      updates: r.updates,
      oursChangesPerSecond: round(r.ours),
      libraryTextChangesPerSecond: round(r.libraryText),
      libraryTypedChangesPerSecond: round(r.libraryTyped),
      serverChangesPerSecond: round(r.server),
      ratio: round(r.ours / r.libraryText, 2),
    });
  }
  if (!only || only === "latency") {
    const r = await benchLatency(databaseUrl, cfg.latencyShapes, cfg.rate, cfg.duration);
    console.log(
      `\n== (2) latency: ${fmt(cfg.latencyShapes)} shapes each with a live long-poll client, ${fmt(cfg.rate)} single-row updates/s spread over them, ${cfg.duration} s (after 2 s warm-up)`,
    );
    console.log(
      `latency commit→client: p50 ${fmt(r.p50, 1)} ms p99 ${fmt(r.p99, 1)} ms (n=${fmt(r.samples)}; achieved ${fmt(r.achievedRate)} updates/s) | raw UPDATE round trip p50 ${fmt(r.rawP50, 1)} ms p99 ${fmt(r.rawP99, 1)} ms (goal p99 ≤ 100 ms); ${fmt(r.compactions)} log compactions ran`,
    );
    report.add("latency", {
      shapes: cfg.latencyShapes,
      p50Ms: round(r.p50, 1),
      p99Ms: round(r.p99, 1),
      samples: r.samples,
      achievedUpdatesPerSecond: round(r.achievedRate),
      rawUpdateP50Ms: round(r.rawP50, 1),
      rawUpdateP99Ms: round(r.rawP99, 1),
      compactions: r.compactions,
    });
  }
  if (!only || only === "matching") {
    const r = await benchMatching(databaseUrl, cfg.shapes);
    console.log(
      `\n== (3b) matching in-process: synthetic 100-row update transactions through match → convert → durable append (no HTTP, no decode)`,
    );
    console.log(
      `per-change cost: ${fmt(r.small, 1)} µs at 100 shapes | ${fmt(r.large, 1)} µs at ${fmt(cfg.shapes)} shapes | ratio ${(r.large / r.small).toFixed(2)} (flat ≈ 1)`,
    );
    report.add("matching", {
      shapes: cfg.shapes,
      perChangeMicrosAt100Shapes: round(r.small, 1),
      perChangeMicros: round(r.large, 1),
      ratio: round(r.large / r.small, 2),
    });
  }
  if (!only || only === "scale") {
    const r = await benchScale(databaseUrl, cfg.shapes);
    console.log(
      `\n== (3) scale: ${fmt(cfg.shapes)} shapes, each with a waiting live request (server in its own process)`,
    );
    console.log(
      `memory: RSS per shape ${fmt(r.perShape / 1024, 1)} KB, per waiting request ${fmt(r.perRequest / 1024, 1)} KB, per shape+request ${fmt((r.perShape + r.perRequest) / 1024, 1)} KB (RSS at start ${fmt(r.baseline / 1048576)} MB, after warm-up ${fmt(r.warm / 1048576)} MB; per shape counted from the start instead: ${fmt(r.perShapeFromStart / 1024, 1)} KB; goal ≤ 20 KB); V8 heap after GC: ${fmt(r.heapPerShape / 1024, 1)} KB/shape, ${fmt(r.heapPerRequest / 1024, 1)} KB/request`,
    );
    console.log(
      `memory per waiting request: ours ${fmt(r.perRequest / 1024, 1)} KB | raw: a bare node:http server holding the same ${fmt(cfg.shapes - 1)} requests ${fmt(r.rawPerRequest / 1024, 1)} KB | ratio ${(r.perRequest / r.rawPerRequest).toFixed(2)}`,
    );
    console.log(
      `per-change cost: ${fmt(r.costSmall, 1)} µs at 100 shapes | ${fmt(r.costLarge, 1)} µs at ${fmt(cfg.shapes)} shapes | ratio ${(r.costLarge / r.costSmall).toFixed(2)} (flat ≈ 1); shape creation ${fmt(r.createRate)} shapes/s`,
    );
    console.log(`\n== (4) recovery: kill -9 with ${fmt(cfg.shapes)} shapes, restart`);
    console.log(
      `restart: health active after ${fmt(r.restartHealthyMs)} ms; while ${fmt(r.resumed)} clients reconnect at once, a probe's live request is served a new change after ${fmt(r.restartProbeMs)} ms (goal ≤ 2 s); ` +
        `all ${fmt(r.resumed)} resumed requests parked again after ${fmt(r.restartParkedMs)} ms; then, their rows updated, first / half / all served after ${fmt(r.restartFirstMs)} / ${fmt(r.restartHalfMs)} / ${fmt(r.restartAllMs)} ms | raw process start (node -e 0, to exit) ${fmt(r.rawStartMs)} ms`,
    );
    report.add("scale", {
      shapes: cfg.shapes,
      rssPerShapeKB: round(r.perShape / 1024, 1),
      rssPerWaitingRequestKB: round(r.perRequest / 1024, 1),
      rssPerShapeAndRequestKB: round((r.perShape + r.perRequest) / 1024, 1),
      rssPerShapeFromStartKB: round(r.perShapeFromStart / 1024, 1),
      heapPerShapeKB: round(r.heapPerShape / 1024, 1),
      heapPerRequestKB: round(r.heapPerRequest / 1024, 1),
      rawPerWaitingRequestKB: round(r.rawPerRequest / 1024, 1),
      waitingRequestRatio: round(r.perRequest / r.rawPerRequest, 2),
      perChangeMicrosAt100Shapes: round(r.costSmall, 1),
      perChangeMicros: round(r.costLarge, 1),
      shapeCreationPerSecond: round(r.createRate),
    });
    report.add("recovery", {
      shapes: cfg.shapes,
      healthyAfterMs: round(r.restartHealthyMs),
      probeServedAfterMs: round(r.restartProbeMs),
      resumed: r.resumed,
      parkedAfterMs: round(r.restartParkedMs),
      firstServedMs: round(r.restartFirstMs),
      halfServedMs: round(r.restartHalfMs),
      allServedMs: round(r.restartAllMs),
      rawProcessStartMs: round(r.rawStartMs),
    });
  }
  if (!only || only === "compaction") {
    const r = benchCompaction(cfg.compactMessages, 1000);
    console.log(
      `\n== (5) compaction in-process: one shape's log of ${fmt(r.messages)} single-row update transactions over ${fmt(r.keys)} keys, compacted once`,
    );
    console.log(
      `compaction: log ${fmt(r.bytesBefore / 1048576, 1)} MB → ${fmt(r.bytesAfter / 1048576, 2)} MB (${fmt(r.folded)} updates folded) at ${fmt(r.compactMBps, 1)} MB/s | raw read+parse of the same rows ${fmt(r.rawReadMBps, 1)} MB/s | ratio ${(r.compactMBps / r.rawReadMBps).toFixed(2)}`,
    );
    report.add("compaction", {
      messages: r.messages,
      logMBBefore: round(r.bytesBefore / 1048576, 1),
      logMBAfter: round(r.bytesAfter / 1048576, 2),
      folded: r.folded,
      compactMBPerSecond: round(r.compactMBps, 1),
      rawReadMBPerSecond: round(r.rawReadMBps, 1),
      ratio: round(r.compactMBps / r.rawReadMBps, 2),
    });
  }
} catch (error) {
  failed = true;
  console.error(error);
  process.exitCode = 1;
} finally {
  for (const stop of stops.reverse()) await stop().catch(() => {});
}
if (!failed) report.print();
