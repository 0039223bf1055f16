/**
 * Collapsed live waits: all requests waiting on the same shape and offset share one listener and
 * one log read. A request that times out or disconnects only drops its reference; the last one out
 * removes the listener, so an abandoned wait costs nothing afterwards.
 */
import type { OffsetAt } from "@runfeed/core";
import type { ShapeLogReader } from "../shapes/log-reader.js";
import type { ReadResult, Shape } from "../shapes/shape.js";

/** A cheaper stand-in for AbortSignal (one per waiting request). */
export interface Cancel {
  aborted: boolean;
  listener?: () => void;
}

export function cancelOnClose(res: { once(e: "close", fn: () => void): unknown }): Cancel {
  const c: Cancel = { aborted: false };
  res.once("close", () => {
    c.aborted = true;
    c.listener?.();
  });
  return c;
}

export type WaitOutcome =
  | { kind: "change"; read: () => ReadResult }
  | { kind: "gone" }
  | { kind: "timeout" }
  | { kind: "aborted" };

interface Group {
  refs: number;
  settled?: "change" | "gone";
  resolvers: Set<(o: "change" | "gone") => void>;
  listener: (e: "change" | "gone") => void;
  result?: ReadResult;
}

export class LiveWaits {
  private readonly groups = new Map<string, Group>();

  constructor(private readonly reader: ShapeLogReader) {}

  get waiting(): number {
    let n = 0;
    for (const g of this.groups.values()) n += g.refs;
    return n;
  }

  wait(shape: Shape, offsetKey: string, after: OffsetAt, timeoutMs: number, signal: Cancel): Promise<WaitOutcome> {
    const key = `${shape.id}:${offsetKey}`;
    let group = this.groups.get(key);
    if (!group) {
      const g: Group = {
        refs: 0,
        resolvers: new Set(),
        listener: (e) => {
          g.settled = e;
          shape.listeners.delete(g.listener);
          this.groups.delete(key);
          for (const r of g.resolvers) r(e);
          g.resolvers.clear();
        },
      };
      group = g;
      this.groups.set(key, g);
      shape.listeners.add(g.listener);
    }
    const g = group;
    const readOnce = () => (g.result ??= this.reader.read(shape, after));
    return new Promise<WaitOutcome>((resolve) => {
      g.refs++;
      let done = false;
      const finish = (o: WaitOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (signal.listener === onAbort) signal.listener = undefined;
        g.resolvers.delete(onEvent);
        g.refs--;
        if (g.refs === 0 && !g.settled) {
          shape.listeners.delete(g.listener);
          this.groups.delete(key);
        }
        resolve(o);
      };
      const onEvent = (e: "change" | "gone") =>
        finish(e === "gone" ? { kind: "gone" } : { kind: "change", read: readOnce });
      const onAbort = () => finish({ kind: "aborted" });
      const timer = setTimeout(() => finish({ kind: "timeout" }), timeoutMs);
      g.resolvers.add(onEvent);
      signal.listener = onAbort;
      if (signal.aborted) onAbort();
    });
  }
}
