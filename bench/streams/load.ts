/**
 * The streams bench's writers and readers, each side in a process of its own (run by run.ts over an
 * IPC channel, not by hand), so that the schedule is sent, the readers read, and the webapp's CPU is
 * the webapp's. The same processes drive runfeed and the raw Redis twin at the same rates:
 *
 *   writer http: one v1 writer per stream (a long chunked POST of NDJSON lines, on a plain socket)
 *   writer raw:  XADD of the same lines, one explicit pipeline per pass on one connection
 *   reader http: one SSE reader per stream (a GET on a plain socket, its chunked body decoded here)
 *   reader raw:  XREAD BLOCK loops over 200 keys each (the webapp hub's read pattern)
 *
 *   node --import tsx bench/streams/load.ts <writer|reader> <http|raw>   (its config is the first message)
 *
 * Every line carries its send time on the monotonic clock (the same in every process on the machine),
 * stamped as it is written, so a reader's latency is send → read. Messages, run.ts → load:
 * `{start, config}` first, then `{go}` (writer: send the schedule), `{measure}` / `{report}` (reader: start / stop counting
 * latencies), `{end}` (writer: end the bodies), `{drain, until}` (reader: wait until that many chunks
 * arrived). load → run.ts: `{ready}`, `{warm}` (reader: every stream's first line arrived), and the
 * answer to each command.
 */
import net from "node:net";
import { Redis } from "ioredis";
import {
  NDJSON_CONTENT_TYPE,
  STREAM_CLIENT_ID_HEADER,
  STREAM_RESUME_FROM_CHUNK_HEADER,
} from "../../packages/core/src/index.js";
import { until } from "../support.js";

export interface LoadConfig {
  base: string;
  redisUrl: string;
  authorization: string;
  /** http: run friendly ids (stream key `tokens`); raw: Redis keys. */
  targets: string[];
  rate: number;
  seconds: number;
  /** Every target sends at the same instant of each period (else at its own phase: sendSchedule). */
  phaseLocked: boolean;
}

export type LoadMessage =
  | { kind: "ready" }
  | { kind: "warm" }
  | { kind: "sent"; sent: number }
  | { kind: "ended"; outcomes: string[] }
  | {
      kind: "latency";
      p50: number;
      p99: number;
      count: number;
      /** http: p50 and p99 of send → stored in Redis, and of stored → read. */
      toStored?: [number, number];
      fromStored?: [number, number];
    }
  | { kind: "drained"; received: number };

export type LoadCommand =
  | { kind: "start"; config: LoadConfig }
  | { kind: "go" }
  | { kind: "end" }
  | { kind: "measure" }
  | { kind: "report" }
  | { kind: "drain"; until: number };

/** Milliseconds on the monotonic clock (CLOCK_MONOTONIC: the same in every process). */
export const monotonicMs = () => Number(process.hrtime.bigint() / 1000n) / 1000;

/** The line every writer sends: its send time, and padding to a token-like size (~60 bytes). */
export const chunkLine = (t: number, i: number) => `{"t":${t},"i":${i},"token":"lorem "}\n`;

/** The send time in a `data: {"t":…` SSE line or a raw entry's `{"t":…` value, at `at`. */
const sendTime = (text: string, at: number) => Number(text.slice(at + 5, text.indexOf(",", at)));

export function percentile(values: Float64Array, count: number, p: number): number {
  const sorted = values.slice(0, count).sort();
  return sorted[Math.min(count - 1, Math.floor(p * count))] ?? Number.NaN;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Sink {
  write(index: number, line: string): void;
}

/**
 * Sends the schedule: `rate` lines a second to every target for `seconds`. Each pass sends what the
 * clock says is due by then, so a late pass catches up (what could not be sent shows as sent < scheduled).
 * Phase-locked, every target's k-th line is due at the same instant (one burst per period); spread,
 * target s of n sends at its own phase, s/n of a period later (independent writers are not in step).
 */
async function sendSchedule(config: LoadConfig, sink: Sink, endOfPass = () => {}): Promise<number> {
  const n = config.targets.length;
  const period = 1000 / config.rate;
  const lines = config.rate * config.seconds;
  const offset = (s: number) => (config.phaseLocked ? 0 : (s * period) / n);
  const done = new Array<number>(n).fill(0);
  const started = monotonicMs();
  for (;;) {
    const t0 = monotonicMs();
    for (let s = 0; s < n; s++) {
      const due = Math.min(lines, Math.floor((t0 - started - offset(s)) / period) + 1);
      for (; done[s]! < due; done[s]!++) sink.write(s, chunkLine(monotonicMs(), done[s]!));
    }
    endOfPass();
    if (t0 >= started + config.seconds * 1000) return done.reduce((a, b) => a + b, 0);
    // Phase-locked: wake once a period; spread: about every millisecond (each wake sends n / period lines).
    await sleep(config.phaseLocked ? Math.max(1, period - (monotonicMs() - t0)) : 1);
  }
}

/**
 * One v1 writer: a chunked POST of NDJSON lines written on a plain socket, byte for byte what
 * node:http's ClientRequest sends (the same request line and headers, each line one chunk), but one
 * socket write per line with its framing instead of ClientRequest's three, and no stream machinery.
 * The writers stand in for tasks on other machines: their CPU is the bench's, not runfeed's, so the
 * cheaper they are the less they take from the webapp on this shared machine.
 */
class ChunkedWriter {
  readonly socket: net.Socket;
  /** The response's status code, or the error that ended the request. */
  readonly outcome: Promise<string>;

  constructor(url: URL, path: string, headers: Record<string, string>) {
    this.socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
    const head = [`POST ${path} HTTP/1.1`, `Host: ${url.host}`, "Connection: keep-alive"];
    for (const [name, value] of Object.entries(headers)) head.push(`${name}: ${value}`);
    head.push("Transfer-Encoding: chunked", "", "");
    this.socket.write(head.join("\r\n"));
    this.outcome = new Promise<string>((resolve) => {
      let response = "";
      this.socket.setEncoding("latin1");
      this.socket.on("data", (text: string) => {
        response += text;
        const status = /^HTTP\/1\.1 (\d{3})/.exec(response);
        if (status) {
          resolve(status[1]!);
          this.socket.destroy();
        }
      });
      this.socket.on("error", (error) => resolve(error.message));
      this.socket.on("close", () => resolve("closed without an answer"));
    });
  }

  /** One NDJSON line (ending in its newline) as one chunk. */
  write(line: string) {
    this.socket.write(`${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`);
  }

  end() {
    this.socket.write("0\r\n\r\n");
  }
}

async function httpWriter(config: LoadConfig, send: (message: LoadMessage) => void) {
  const base = new URL(config.base);
  const writers = config.targets.map((runId) => {
    const writer = new ChunkedWriter(base, `/realtime/v1/streams/${runId}/self/tokens`, {
      authorization: config.authorization,
      "content-type": NDJSON_CONTENT_TYPE,
      [STREAM_CLIENT_ID_HEADER]: "bench",
      [STREAM_RESUME_FROM_CHUNK_HEADER]: "0",
    });
    // The warm-up line: the request is set up (authenticated, stream listed) before the clock starts.
    writer.write(chunkLine(monotonicMs(), -1));
    return writer;
  });
  send({ kind: "ready" });
  return {
    // No backpressure on purpose: a writer the server reads slowly queues in its socket.
    go: () => sendSchedule(config, { write: (s, line) => writers[s]!.write(line) }),
    end: async () => {
      for (const writer of writers) writer.end();
      return Promise.all(
        writers.map((w) => Promise.race([w.outcome, new Promise<string>((r) => setTimeout(r, 120_000, "no answer"))])),
      );
    },
  };
}

async function rawWriter(config: LoadConfig, send: (message: LoadMessage) => void) {
  const redis = new Redis(config.redisUrl);
  send({ kind: "ready" });
  let pipeline = redis.pipeline();
  const pending: Array<Promise<unknown>> = [];
  return {
    // One explicit pipeline per pass of the schedule (cheaper for this client than a promise per XADD).
    go: () =>
      sendSchedule(
        config,
        { write: (s, line) => void pipeline.xadd(config.targets[s]!, "*", "d", line.trimEnd()) },
        () => {
          if (pipeline.length > 0) pending.push(pipeline.exec());
          pipeline = redis.pipeline();
        },
      ),
    end: async () => {
      await Promise.all(pending);
      await redis.quit();
      return [];
    },
  };
}

/** Latencies while measuring; every line received (warm-up and late ones included); warm streams. */
class Tally {
  readonly latencies: Float64Array;
  /** http only: each counted latency split at the Redis entry's time (send → stored, stored → read). */
  readonly toStored: Float64Array;
  readonly fromStored: Float64Array;
  split = 0;
  count = 0;
  received = 0;
  measuring = false;
  readonly #warm = new Set<number>();
  constructor(
    readonly config: LoadConfig,
    readonly onWarm: () => void,
  ) {
    this.latencies = new Float64Array(config.targets.length * config.rate * (config.seconds + 3));
    this.toStored = new Float64Array(this.latencies.length);
    this.fromStored = new Float64Array(this.latencies.length);
  }
  /** `storedAt`: when Redis stored the chunk, on the monotonic clock (its entry id's time, ms precision). */
  addSplit(sentAt: number, storedAt: number, at: number) {
    if (!this.measuring || this.split >= this.toStored.length) return;
    this.toStored[this.split] = storedAt - sentAt;
    this.fromStored[this.split++] = at - storedAt;
  }
  add(stream: number, sentAt: number, at: number) {
    this.received++;
    if (this.#warm.size < this.config.targets.length && !this.#warm.has(stream)) {
      this.#warm.add(stream);
      if (this.#warm.size === this.config.targets.length) this.onWarm();
    }
    if (this.measuring && this.count < this.latencies.length) this.latencies[this.count++] = at - sentAt;
  }
}

/**
 * One SSE reader on a plain socket: the GET that node:http sends, then the chunked response decoded
 * here (on latin1 text, so a chunk's size in bytes is its length; the bench's events are ASCII). Like
 * the writers, the readers stand in for clients on other machines: no IncomingMessage and stream
 * machinery per delivery, only the socket's read and the parse. `onText` gets the body's text.
 */
function sseReader(url: URL, authorization: string, onText: (text: string, at: number) => void): Promise<net.Socket> {
  const socket = net.connect({ host: url.hostname, port: Number(url.port), noDelay: true });
  socket.setEncoding("latin1");
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAuthorization: ${authorization}\r\nConnection: keep-alive\r\n\r\n`,
  );
  return new Promise((resolve, reject) => {
    let head = true;
    let pending = "";
    /** Bytes of the current chunk still to come, then whether its CRLF is. */
    let remaining = 0;
    let crlf = false;
    socket.on("error", reject);
    socket.on("data", (text: string) => {
      const at = monotonicMs();
      pending += text;
      if (head) {
        const end = pending.indexOf("\r\n\r\n");
        if (end === -1) return;
        const status = pending.slice(9, 12);
        if (status !== "200") {
          socket.destroy();
          return reject(new Error(`reader ${url.pathname}: ${status}`));
        }
        head = false;
        pending = pending.slice(end + 4);
        resolve(socket);
      }
      let body = "";
      for (;;) {
        if (remaining > 0) {
          if (pending.length === 0) break;
          const take = Math.min(remaining, pending.length);
          body += pending.slice(0, take);
          pending = pending.slice(take);
          remaining -= take;
          if (remaining > 0) break;
          crlf = true;
        }
        if (crlf) {
          if (pending.length < 2) break;
          pending = pending.slice(2);
          crlf = false;
        }
        const eol = pending.indexOf("\r\n");
        if (eol === -1) break;
        const size = Number.parseInt(pending.slice(0, eol), 16);
        pending = pending.slice(eol + 2);
        if (!(size > 0)) break; // the last chunk: the body ended
        remaining = size;
      }
      if (body) onText(body, at);
    });
  });
}

async function httpReader(config: LoadConfig, tally: Tally) {
  const wallToMonotonic = Date.now() - monotonicMs();
  const sockets = await Promise.all(
    config.targets.map((runId, stream) => {
      let buffer = "";
      return sseReader(
        new URL(`${config.base}/realtime/v1/streams/${runId}/tokens`),
        config.authorization,
        (text, at) => {
          buffer += text;
          let start = 0;
          for (let i = buffer.indexOf("data: ", start); i !== -1; i = buffer.indexOf("data: ", start)) {
            const eol = buffer.indexOf("\n", i);
            if (eol === -1) break;
            // The event's id is the Redis entry id: Redis's clock (this machine's) in ms, then a sequence.
            const idStart = buffer.lastIndexOf("id: ", i);
            const storedAt = Number(buffer.slice(idStart + 4, buffer.indexOf("-", idStart))) - wallToMonotonic;
            const sentAt = sendTime(buffer, i + 6);
            tally.addSplit(sentAt, storedAt, at);
            tally.add(stream, sentAt, at);
            start = eol + 1;
          }
          buffer = buffer.slice(start);
        },
      );
    }),
  );
  return () => {
    for (const socket of sockets) socket.destroy();
  };
}

async function rawReader(config: LoadConfig, tally: Tally) {
  let stop = false;
  const loops: Array<Promise<void>> = [];
  for (let from = 0; from < config.targets.length; from += 200) {
    const group = config.targets.slice(from, from + 200);
    const reader = new Redis(config.redisUrl);
    const cursors = group.map(() => "0-0"); // the keys are new: from their start
    loops.push(
      (async () => {
        while (!stop) {
          const result = (await reader.xread("COUNT", 1000, "BLOCK", 500, "STREAMS", ...group, ...cursors)) as Array<
            [string, Array<[string, string[]]>]
          > | null;
          const at = monotonicMs();
          for (const [key, entries] of result ?? []) {
            const g = group.indexOf(key);
            cursors[g] = entries[entries.length - 1]![0];
            for (const [, fields] of entries) tally.add(from + g, sendTime(fields[1]!, 0), at);
          }
        }
        reader.disconnect();
      })(),
    );
  }
  return async () => {
    stop = true;
    await Promise.all(loops);
  };
}

async function main() {
  const [side, target] = process.argv.slice(2) as ["writer" | "reader", "http" | "raw"];
  const send = (message: LoadMessage) => process.send!(message);
  const commands: LoadCommand[] = [];
  let wake = () => {};
  process.on("message", (command: LoadCommand) => {
    commands.push(command);
    wake();
  });
  const next = async (): Promise<LoadCommand> => {
    while (commands.length === 0) await new Promise<void>((resolve) => (wake = resolve));
    return commands.shift()!;
  };
  const start = await next();
  if (start.kind !== "start") throw new Error(`expected the config first, got ${start.kind}`);
  const { config } = start;

  if (side === "writer") {
    const writer = target === "http" ? await httpWriter(config, send) : await rawWriter(config, send);
    for (;;) {
      const command = await next();
      if (command.kind === "go") send({ kind: "sent", sent: await writer.go() });
      if (command.kind === "end") return send({ kind: "ended", outcomes: await writer.end() });
    }
  }
  const tally = new Tally(config, () => send({ kind: "warm" }));
  const close = target === "http" ? await httpReader(config, tally) : await rawReader(config, tally);
  send({ kind: "ready" });
  for (;;) {
    const command = await next();
    if (command.kind === "measure") tally.measuring = true;
    if (command.kind === "report") {
      tally.measuring = false;
      const { latencies, count, toStored, fromStored, split } = tally;
      send({
        kind: "latency",
        p50: percentile(latencies, count, 0.5),
        p99: percentile(latencies, count, 0.99),
        count,
        ...(split > 0
          ? {
              toStored: [percentile(toStored, split, 0.5), percentile(toStored, split, 0.99)],
              fromStored: [percentile(fromStored, split, 0.5), percentile(fromStored, split, 0.99)],
            }
          : {}),
      });
    }
    if (command.kind === "drain") {
      await until(async () => tally.received >= command.until, 120_000, 100).catch(() => {});
      await close();
      return send({ kind: "drained", received: tally.received });
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await main();
  process.disconnect?.();
}
