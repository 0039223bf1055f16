/**
 * Live mode by long-poll (§5.1): a request at the shape's end is parked until the shape changes, goes
 * away (409) or the timeout passes (an up-to-date with nothing new, or a 503 while replication is down).
 * The parked wait keeps only what its answer needs.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { CACHE_CONTROL_LIVE, type OffsetAt } from "@runfeed/core";
import type { ShapeCatalog } from "../shapes/shape-catalog.js";
import type { ReadResult, Shape } from "../shapes/shape.js";
import { mustRefetch, ServiceUnavailableError } from "./errors.js";
import type { Cancel, LiveWaits } from "./live.js";
import type { LogResponder, ResponseParams } from "./log-response.js";

export interface LongPollDeps {
  timeoutMs: number;
  waits: Pick<LiveWaits, "wait">;
  responder: Pick<LogResponder, "send">;
  catalog: Pick<ShapeCatalog, "getOrCreate">;
  /** Whether replication is running; a long-poll that times out while it is not gets a 503. */
  healthy: () => boolean;
}

/** Parks the request; a failure after this point goes to `fail` (the caller's frame is gone by then). */
export function holdLongPoll(
  deps: LongPollDeps,
  req: IncomingMessage,
  res: ServerResponse,
  shape: Shape,
  p: ResponseParams,
  pos: OffsetAt,
  cancel: Cancel,
  fail: (err: unknown) => void,
): void {
  deps.waits
    .wait(shape, p.offsetText, pos, deps.timeoutMs, cancel)
    .then((o) => {
      if (o.kind === "aborted") return;
      if (o.kind === "gone") return mustRefetch(deps.catalog, shape.compiled);
      if (o.kind === "timeout") {
        if (!deps.healthy()) throw new ServiceUnavailableError("Replication is not running; retrying", 10);
        const r: ReadResult = { items: [], end: pos, reachedEnd: true };
        return deps.responder.send(req, res, shape, p, r, {
          cacheControl: CACHE_CONTROL_LIVE,
          upToDate: true,
          noChange: true,
        });
      }
      const r = o.read();
      return deps.responder.send(req, res, shape, p, r, {
        cacheControl: CACHE_CONTROL_LIVE,
        upToDate: r.reachedEnd,
        liveData: true,
      });
    })
    .catch(fail);
}
