/**
 * GET /realtime/v1/streams/:runId/:key — a run's stream as server-sent events (`id:` entry id, `data:`
 * one JSON chunk), from the archive and then live, resumable with Last-Event-ID; the body ends when the
 * stream ends (docs/decisions/080-realtime-streams.md). Readable with the scopes that read the run
 * (`read:runs:<id>`, its tags, batch or task); another environment's run is a 404.
 */
import { createApiRoute } from "../services/apiRoute.server";
import { findFeedRun, runResources } from "../services/realtime/feedLookups.server";
import { StreamReadParams, streamEventResponse } from "../services/realtime/streams/streamRequests.server";

const route = createApiRoute(
  {
    name: "realtime.v1.streams.read",
    method: "GET",
    params: StreamReadParams,
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) => findFeedRun(services.prisma, authentication, params.runId),
    notFoundMessage: "Run not found",
    authorization: { action: "read", resources: runResources },
  },
  ({ request, resource, params, authentication, services, signal }) =>
    streamEventResponse({
      services,
      authentication,
      request,
      signal,
      ref: { runId: resource.id, key: params.streamId },
    }),
);

export const loader = route.loader;
export const action = route.action;
