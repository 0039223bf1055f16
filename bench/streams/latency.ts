/**
 * One latency row of the streams bench: the writers and the readers of load.ts, each in a process of
 * its own, once against raw Redis (XADD → XREAD BLOCK) and once against the webapp (v1 writer → SSE
 * reader), at the same rate into as many streams; CPU per chunk of every process taken over the window.
 */
import { type ChildProcess, fork } from "node:child_process";
import type { Redis as RedisClient } from "ioredis";
import { cpuSeconds, stopChild } from "../../packages/devstack/src/processes.js";
import { type LoadCommand, type LoadConfig, type LoadMessage, monotonicMs } from "./load.js";

const LOAD = new URL("./load.ts", import.meta.url).pathname;

/** A load.ts process: commands in, messages out (by kind, in order). */
class LoadProcess {
  readonly child: ChildProcess;
  readonly #inbox: LoadMessage[] = [];
  #waiting: { kind: LoadMessage["kind"]; resolve: (m: LoadMessage) => void; reject: (e: Error) => void } | undefined;

  constructor(side: "writer" | "reader", target: "http" | "raw", config: LoadConfig) {
    this.child = fork(LOAD, [side, target], {
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.child.on("message", (message: LoadMessage) => {
      if (this.#waiting?.kind === message.kind) {
        const { resolve } = this.#waiting;
        this.#waiting = undefined;
        resolve(message);
      } else this.#inbox.push(message);
    });
    this.child.once("exit", (code) => this.#waiting?.reject(new Error(`load ${side} ${target} exited ${code}`)));
    this.send({ kind: "start", config });
  }

  send(command: LoadCommand) {
    this.child.send(command);
  }

  /** The next message of `kind` (earlier ones of other kinds are dropped). */
  expect<K extends LoadMessage["kind"]>(kind: K, timeoutMs = 300_000): Promise<Extract<LoadMessage, { kind: K }>> {
    const index = this.#inbox.findIndex((m) => m.kind === kind);
    if (index !== -1)
      return Promise.resolve(this.#inbox.splice(0, index + 1).at(-1) as Extract<LoadMessage, { kind: K }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${kind} from load process in ${timeoutMs} ms`)), timeoutMs);
      this.#waiting = {
        kind,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m as Extract<LoadMessage, { kind: K }>);
        },
        reject,
      };
    });
  }

  cpuSeconds = () => cpuSeconds(this.child.pid);
  stop = () => stopChild(this.child);
}

export interface LatencyRow {
  p50: number;
  p99: number;
  /** http: p50 and p99 of send → stored in Redis and of stored → read (the entry id's time, ms). */
  split?: { toStored: [number, number]; fromStored: [number, number] };
  /** Latencies counted: chunks read within the window plus 2 s. */
  count: number;
  sent: number;
  scheduled: number;
  stored: number;
  received: number;
  lost: number;
  writerOutcomes: string[];
  /** CPU µs per chunk sent, over the window, per process. */
  cpuUsPerChunk: { writers: number; readers: number; redis: number; webapp?: number };
  /** The measured window on the monotonic clock in µs (the clock of node's --cpu-prof timestamps). */
  windowUs: [number, number];
}

export interface RowOptions {
  target: "http" | "raw";
  config: LoadConfig;
  redis: RedisClient;
  /** The webapp's CPU seconds so far (http only). */
  webappCpu?: () => number;
  /** Chunks stored for the targets, once the writers have ended (includes http's warm-up lines). */
  stored: () => Promise<number>;
  onStarted?: (message: string) => void;
}

async function redisCpuSeconds(redis: RedisClient): Promise<number> {
  const info = await redis.info("cpu");
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
  return field("used_cpu_user") + field("used_cpu_sys");
}

export async function latencyRow(options: RowOptions): Promise<LatencyRow> {
  const { config, target } = options;
  const streams = config.targets.length;
  const reader = new LoadProcess("reader", target, config);
  let writer: LoadProcess | undefined;
  try {
    await reader.expect("ready");
    writer = new LoadProcess("writer", target, config);
    await writer.expect("ready");
    const setupStarted = performance.now();
    // Every writer's request is set up and its first line read before the clock starts: the figure is
    // the steady state, not the start-up of a thousand requests.
    if (target === "http") {
      await reader.expect("warm");
      options.onStarted?.(
        `(${streams} writer → reader pairs set up in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s before the clock started)`,
      );
    }
    const before = {
      writers: writer.cpuSeconds(),
      readers: reader.cpuSeconds(),
      redis: await redisCpuSeconds(options.redis),
      webapp: options.webappCpu?.() ?? Number.NaN,
    };
    const windowStart = Math.round(monotonicMs() * 1000);
    reader.send({ kind: "measure" });
    writer.send({ kind: "go" });
    const { sent } = await writer.expect("sent");
    // Let the last chunks arrive (the figure counts those that take longer as late).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    reader.send({ kind: "report" });
    const latency = await reader.expect("latency");
    const windowEnd = Math.round(monotonicMs() * 1000);
    const perChunk = (seconds: number) => (seconds / sent) * 1e6;
    const cpuUsPerChunk = {
      writers: perChunk(writer.cpuSeconds() - before.writers),
      readers: perChunk(reader.cpuSeconds() - before.readers),
      redis: perChunk((await redisCpuSeconds(options.redis)) - before.redis),
      ...(options.webappCpu ? { webapp: perChunk(options.webappCpu() - before.webapp) } : {}),
    };
    // Then every writer ends its body and gets its answer (200 = every line stored); every stored
    // chunk must reach its reader, however late. Sent − stored is what the server never acknowledged.
    writer.send({ kind: "end" });
    const { outcomes } = await writer.expect("ended", 180_000);
    const stored = await options.stored();
    reader.send({ kind: "drain", until: stored });
    const { received } = await reader.expect("drained", 180_000);
    const warmUps = target === "http" ? streams : 0;
    return {
      p50: latency.p50,
      p99: latency.p99,
      ...(latency.toStored && latency.fromStored
        ? { split: { toStored: latency.toStored, fromStored: latency.fromStored } }
        : {}),
      count: latency.count,
      sent,
      scheduled: streams * config.rate * config.seconds,
      stored: stored - warmUps,
      received: received - warmUps,
      lost: Math.max(0, stored - received),
      writerOutcomes: outcomes,
      cpuUsPerChunk,
      windowUs: [windowStart, windowEnd],
    };
  } finally {
    await Promise.all([reader.stop(), writer?.stop()]);
  }
}
