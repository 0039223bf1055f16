/**
 * A realtime feed route (the three `/realtime/v1/…` feeds): the shared API pipeline (style.md rule 6)
 * for admission, then the proxy. Besides Remix's loader it offers `serveNode`, which the server's hot
 * path calls with the node request and response: the same pipeline runs on a view of the node request,
 * and the answer is written straight onto the socket, with no Fetch Request or Response on the way
 * (docs/decisions/072-realtime-sse-and-cheap-repoll.md).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { TRIGGER_BRANCH_HEADER } from "@runfeed/core";
import type { ZodType } from "zod";
import {
  type AdmittedArgs,
  type ApiRequestHead,
  type ApiRouteConfig,
  createApiRoute,
  credentialKey,
} from "../apiRoute.server";
import { type RequestHead, bearerToken } from "../auth.server";
import { applyCors } from "../cors.server";
import type { Services } from "../services.server";
import { ResponseClosedSignal } from "./clientSignal.server";
import { feedReplyResponse, sendFeedReply } from "./feedReply.server";
import { serveRealtimeFeed } from "./realtimeBackend.server";
import type { StreamCredential } from "./shapeProxy.server";
import type { RealtimeFeed } from "./shapeRewrite.server";

type Infer<T> = T extends ZodType ? import("zod").z.output<T> : undefined;

type Entry = ReturnType<typeof createApiRoute>["loader"];

/**
 * The loader carries `serveNode` (a route module's other exports would be kept in the client bundle,
 * the loader is removed from it).
 */
export interface FeedLoader extends Entry {
  /** GET on the node request/response (server/app.ts). */
  serveNode(
    req: IncomingMessage,
    res: ServerResponse,
    params: Record<string, string>,
    services: Services,
  ): Promise<void>;
}

export function createFeedRoute<
  TParams extends ZodType | undefined = undefined,
  TQuery extends ZodType | undefined = undefined,
  TResource = true,
>(
  config: ApiRouteConfig<TParams, TQuery, undefined, TResource> & { method: "GET" },
  feedOf: (args: AdmittedArgs<Infer<TParams>, Infer<TQuery>, undefined, TResource>) => {
    feed: RealtimeFeed;
    createdAt?: string;
  },
): { loader: FeedLoader; action: Entry } {
  const { findResource } = config;
  const sharedFind: typeof findResource =
    findResource &&
    ((args) => {
      // Same authentication object (remembered), same route and params: the same answer, read once.
      const key = `${config.name}\0${JSON.stringify(args.params)}`;
      const byAuth = args.services.realtime.lookupsInFlight;
      let inflight = byAuth.get(args.authentication);
      if (!inflight) byAuth.set(args.authentication, (inflight = new Map()));
      const pending = inflight.get(key) as ReturnType<typeof findResource> | undefined;
      if (pending) return pending;
      const read = findResource(args);
      const map = inflight;
      map.set(key, read);
      const done = () => void map.delete(key);
      read.then(done, done);
      return read;
    });
  const route = createApiRoute(
    { ...config, findResource: sharedFind, rememberAuthentication: (s) => s.realtime.authentications },
    async ({ request, signal, ...args }) => {
      const reply = await serveRealtimeFeed({
        ...args,
        ...feedOf(args),
        query: queryOf(request.url),
        origin: request.headers.get("origin"),
        signal,
        credential: () => credentialOf(request, args.services, config.allowJWT ?? false),
      });
      return feedReplyResponse(reply);
    },
  );

  async function serveNode(
    req: IncomingMessage,
    res: ServerResponse,
    params: Record<string, string>,
    services: Services,
  ): Promise<void> {
    const started = performance.now();
    const signal = new ResponseClosedSignal(res);
    const head: ApiRequestHead = {
      url: `http://${req.headers.host ?? "localhost"}${req.url}`,
      headers: { get: (name) => headerValue(req, name) },
    };
    const admitted = await route.admit(head, params, services);
    if (!admitted.ok) {
      const response = applyCors(head, admitted.response);
      route.observe(services, response.status, started);
      res.writeHead(response.status, [...response.headers].flat());
      res.end(Buffer.from(await response.arrayBuffer()));
      return;
    }
    const reply = await serveRealtimeFeed({
      ...admitted.args,
      ...feedOf(admitted.args),
      query: queryOf(req.url ?? ""),
      origin: headerValue(req, "origin"),
      signal,
      credential: () => credentialOf(head, services, config.allowJWT ?? false),
    });
    route.observe(services, reply.status, started);
    if (signal.aborted) {
      if (reply.body && !Buffer.isBuffer(reply.body)) reply.body.destroy();
      void reply.done?.();
      return;
    }
    sendFeedReply(res, reply);
  }

  const loader: FeedLoader = Object.assign((args: Parameters<Entry>[0]) => route.loader(args), { serveNode });
  return { loader, action: route.action };
}

function queryOf(url: string): string {
  const q = url.indexOf("?");
  return q === -1 ? "" : url.slice(q + 1);
}

/** A request's credential, to authenticate it again while its event stream is open (shapeProxy.server.ts). */
function credentialOf(head: RequestHead, services: Services, allowJWT: boolean): StreamCredential {
  const authorization = head.headers.get("authorization");
  const branch = head.headers.get(TRIGGER_BRANCH_HEADER);
  // Keyed as the remembered authentications are, so a refused one is forgotten there too.
  const view: RequestHead = {
    headers: {
      get: (name) => (name === "authorization" ? authorization : name === TRIGGER_BRANCH_HEADER ? branch : null),
    },
  };
  return {
    key: credentialKey(bearerToken(head) ?? "", branch),
    authenticate: () => services.auth.authenticate(view, { allowJWT }),
  };
}

/** A header as Fetch's Headers.get reads it (node has already joined repeats). */
function headerValue(req: IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}
