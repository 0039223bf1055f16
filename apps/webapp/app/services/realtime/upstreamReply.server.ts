/** What the shape server answered (shapeUpstream.server.ts, sharedEventStreams.server.ts). */
import type { Readable } from "node:stream";

export interface UpstreamReply {
  status: number;
  /** The upstream's raw headers, flat: name, value, name, value… */
  rawHeaders: string[];
  /** Buffered (a shared live long-poll), streamed (everything else) or none (null-body status). */
  body: Buffer | Readable | null;
}

export class UpstreamAbortedError extends Error {
  override name = "UpstreamAbortedError";
  constructor() {
    super("the client went away before the shape server answered");
  }
}
