/**
 * The webapp process of the realtime benches: like server/index.ts, plus
 * - its own figures on request over the IPC channel (`{ id }` → `{ id, waiting, eventStreamClients,
 *   cpuMs, gcMs }`): clients waiting for the shape server, the process's CPU time so far
 *   (process.cpuUsage()) and its main-thread GC pauses so far. A query costs the webapp tens of µs, where a `/metrics` scrape through
 *   Express and Remix cost ~5 ms, whose calibration error swamped a per-re-poll figure of ~200 µs;
 * - for `BENCH_PROFILE_PHASES=request|response BENCH_PROFILE_DIR=/tmp/x`, a CPU profiler toggled by
 *   SIGUSR2 (the proxy bench sends it around that phase of the first measured proxied burst round; the
 *   profile lands in BENCH_PROFILE_DIR/phase-<n>.cpuprofile).
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { PerformanceObserver } from "node:perf_hooks";
import { parseEnv } from "../../apps/webapp/app/env.server.js";
import { createWebapp, listen } from "../../apps/webapp/server/app.js";

const env = parseEnv(process.env);
const webapp = await createWebapp(env);
await listen(webapp, env.PORT, env.HOST);
const { upstream } = webapp.services.realtime;
// Main-thread GC pauses so far, ms (perf_hooks' gc entries).
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ["gc"] });
process.on("message", (message: { id: number }) => {
  const cpu = process.cpuUsage();
  process.send?.({
    id: message.id,
    waiting: upstream.waiting,
    eventStreamClients: upstream.eventStreamClients,
    cpuMs: (cpu.user + cpu.system) / 1000,
    gcMs,
  });
});

if (process.env.BENCH_PROFILE_PHASES) {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  let running = false;
  let n = 0;
  process.on("SIGUSR2", async () => {
    if (!running) {
      running = true;
      await session.post("Profiler.start");
    } else {
      running = false;
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(`${process.env.BENCH_PROFILE_DIR ?? "/tmp"}/phase-${++n}.cpuprofile`, JSON.stringify(profile));
    }
  });
}
process.on("SIGTERM", async () => {
  await webapp.close();
  process.exit(0);
});
