/**
 * A response body the HTTP server may write straight to the socket (server/app.ts, hot routes) instead
 * of reading `response.body`: an event stream sends small texts often, and every web-stream read costs
 * promises and allocations per text (docs/decisions/081-realtime-streams.md). The Response keeps its
 * web body for every other consumer (Remix's path, tests); only one of the two may be read.
 */
export interface DirectBody {
  /** The next text to write; undefined once the body ended. */
  next(): Promise<string | undefined>;
  /** The client went away (or the server gave up): release what the body holds. Idempotent. */
  cancel(): void;
}

/**
 * A registered symbol, not a module-level WeakMap: the server (server/app.ts) and the route modules
 * (the Remix build, or Vite's module graph in development) load separate copies of this module.
 */
const DIRECT_BODY = Symbol.for("runfeed.directBody");

type WithDirectBody = Response & { [DIRECT_BODY]?: DirectBody };

export function withDirectBody(response: Response, body: DirectBody): Response {
  (response as WithDirectBody)[DIRECT_BODY] = body;
  return response;
}

export function directBodyOf(response: Response): DirectBody | undefined {
  return (response as WithDirectBody)[DIRECT_BODY];
}
