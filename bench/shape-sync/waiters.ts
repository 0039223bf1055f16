/**
 * Load generator for the scale and recovery benchmarks, run as its own process (so thousands of
 * client connections do not share an event loop with the benchmark's clock): holds one live
 * long-poll per shape, following offsets like a client, and reports over IPC.
 *
 * Messages in:  {type:"hold", url, where, waiters?} start (or restart, at the offsets reached) every live loop against url
 *               {type:"drop"}                        abort every request
 * Messages out: {type:"served", at, count}           when `count` requests have had a 200 since the last hold
 * Times are wall-clock milliseconds (performance.timeOrigin + performance.now()), comparable across processes.
 */
import {
  ELECTRIC_CURSOR_HEADER,
  ELECTRIC_HAS_DATA_HEADER,
  ELECTRIC_OFFSET_HEADER,
} from "../../packages/core/src/index.js";
import { setMaxListeners } from "node:events";
import { Agent, request } from "node:http";
import { shapeQuery } from "./common.js";

export interface Waiter {
  i: number;
  handle: string;
  offset: string;
  cursor: string;
}

type Command = { type: "hold"; url: string; where: string; waiters?: Waiter[] } | { type: "drop" };

const now = () => performance.timeOrigin + performance.now();
let ac = new AbortController();
let waiters: Waiter[] = [];
const agent = new Agent({ keepAlive: true, maxSockets: Infinity });

/** One GET over keep-alive node:http (cheaper per request than fetch, so the generator keeps up with 10,000 clients). */
function get(
  url: string,
  signal: AbortSignal,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, signal }, (res) => {
      res.resume();
      res.once("end", () => resolve({ status: res.statusCode!, headers: res.headers }));
      res.once("error", reject);
    });
    req.once("error", reject);
    req.end();
  });
}

function hold(url: string, where: string): void {
  ac = new AbortController();
  setMaxListeners(0, ac.signal);
  const signal = ac.signal;
  let served = 0;
  const milestones = new Set([1, Math.ceil(waiters.length / 2), waiters.length]);
  for (const w of waiters)
    void (async () => {
      let firstServed = false;
      while (!signal.aborted) {
        try {
          const r = await get(
            `${url}/v1/shape?${shapeQuery(where, [`sc_${w.i}`], w.handle, w.offset, true, w.cursor)}`,
            signal,
          );
          if (r.status === 200) {
            w.offset = r.headers[ELECTRIC_OFFSET_HEADER] as string;
            w.cursor = (r.headers[ELECTRIC_CURSOR_HEADER] as string | undefined) ?? "";
            if (!firstServed && r.headers[ELECTRIC_HAS_DATA_HEADER] === "true") {
              firstServed = true;
              served++;
              if (milestones.has(served)) process.send!({ type: "served", at: now(), count: served });
            }
          } else await new Promise((res) => setTimeout(res, 100));
        } catch {
          if (signal.aborted) return;
          // Like a client: retry network errors (keep-alive sockets to a killed server reset).
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    })();
}

process.on("message", (cmd: Command) => {
  if (cmd.type === "hold") {
    ac.abort();
    if (cmd.waiters) waiters = cmd.waiters;
    hold(cmd.url, cmd.where);
  } else ac.abort();
});
process.on("disconnect", () => process.exit(0));
