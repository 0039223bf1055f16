/**
 * What the benchmarks that drive the webapp over HTTP share: their services (a fresh migrated
 * database with the demo project seeded, and Redis), the way they run and stop, a load client on
 * node:http with a keep-alive agent, and a wait for a condition.
 */
import { randomBytes } from "node:crypto";
import http from "node:http";
import { migrate } from "../packages/database/src/index.js";
import { createDatabase, postgresServer, redisServer } from "../packages/devstack/src/services.js";
import { seedDemo } from "../packages/devstack/src/webapp.js";
import type { BenchReport } from "./report.js";

/** The number after `--<name>` on the command line (else `fallback`), held within 1…`max`. */
export function numberArg(name: string, fallback: number, max: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return Math.min(Math.max(i === -1 ? fallback : Number(process.argv[i + 1]), 1), max);
}

/** Something a bench started, stopped on the way out. */
export type Stop = () => Promise<unknown>;

/**
 * Postgres (DATABASE_URL's server, else an embedded one) with a new migrated database `bench_<name>_…`,
 * Redis (REDIS_URL, else a redis-server) and the demo project seeded there; each pushed onto `stops`.
 */
export async function startBenchServices(name: string, stops: Stop[]) {
  const postgres = await postgresServer(process.env.DATABASE_URL, "runfeed-bench");
  stops.push(postgres.stop);
  const database = await createDatabase(postgres.url, `bench_${name}_${randomBytes(4).toString("hex")}`);
  stops.push(database.drop);
  const redis = await redisServer(process.env.REDIS_URL);
  stops.push(redis.stop);
  await migrate(database.url);
  const project = await seedDemo({ databaseUrl: database.url, redisUrl: redis.url });
  return { databaseUrl: database.url, redisUrl: redis.url, project };
}

/**
 * Runs a bench: `main`, then everything on `stops` in reverse order, also on Ctrl-C or SIGTERM (exit
 * 130) and on an unhandled rejection or exception (exit 1). A failure is printed and exits 1. The report `main`
 * returns is printed last, once everything it started has stopped.
 */
export async function runBench(main: () => Promise<BenchReport | undefined>, stops: Stop[]): Promise<void> {
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => void stopAll().finally(() => process.exit(130)));
  // A promise nobody awaited or a throw in a callback (a subscriber loop, a child's handler) must not
  // leave children behind either.
  for (const event of ["unhandledRejection", "uncaughtException"] as const)
    process.on(event, (error) => {
      console.error(error);
      void stopAll().finally(() => process.exit(1));
    });
  let report: BenchReport | undefined;
  try {
    report = await main();
  } catch (error) {
    console.error(error);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
  report?.print();
}

export interface Answer {
  status: number;
  text: string;
}

/**
 * Requests to `base` on a keep-alive agent of `sockets` sockets (one a client). The load generator
 * shares the machine with the webapp, and undici's fetch costs it ~2 ms CPU a request here,
 * http.request far less. `headers` go with every request; `send`'s own are added to them.
 */
export function keepAliveClient(base: string, headers: Record<string, string>, sockets: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: sockets });
  const send = (method: string, path: string, body?: string, extra: Record<string, string> = {}) =>
    new Promise<Answer>((resolve, reject) => {
      const length = body === undefined ? {} : { "content-length": String(Buffer.byteLength(body)) };
      const req = http.request(
        `${base}${path}`,
        { method, agent, headers: { ...headers, ...extra, ...length } },
        (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (text += chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return { agent, send };
}

/** Resolves once `check` holds (a throw counts as not yet), polling every `intervalMs`; throws after `timeoutMs`. */
export async function until(check: () => Promise<boolean>, timeoutMs: number, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
