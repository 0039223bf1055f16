/**
 * GET /realtime/v1/runs/:runId — one run's feed (checklist #1, #25, #33).
 * The run is looked up by friendly id in the token's environment; anything else is a 404
 * (fixed fields remembered briefly: feedLookups.server.ts).
 */
import { runResources } from "../services/realtime/feedLookups.server";
import { createFeedRoute } from "../services/realtime/feedRoute.server";
import { RunIdParams } from "../services/runLookup.server";

const route = createFeedRoute(
  {
    name: "realtime.v1.runs.$runId",
    method: "GET",
    params: RunIdParams,
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) => services.feedLookups.findRun(authentication, params.runId),
    // A remembered run (no tags) is only returned when its fixed fields alone grant read.
    authorization: { action: "read", resources: runResources },
  },
  ({ resource }) => ({ feed: { kind: "run", runId: resource.id } }),
);

export const loader = route.loader;
export const action = route.action;
