/**
 * GET /realtime/v1/runs/:runId/logs — one run's log lines and events as an Electric shape on TaskRunLog
 * (docs/decisions/090-run-logs.md). The same pipeline as the run's own feed: the run is looked up by
 * friendly id in the token's environment (anything else is a 404), read on the run is required (a
 * `read:runs:<id>`, task, tag or batch scope, or the secret key), and the shape is limited to rows of
 * that run in that environment.
 */
import { runResources } from "../services/realtime/feedLookups.server";
import { createFeedRoute } from "../services/realtime/feedRoute.server";
import { RunIdParams } from "../services/runLookup.server";

const route = createFeedRoute(
  {
    name: "realtime.v1.runs.$runId.logs",
    method: "GET",
    params: RunIdParams,
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) => services.feedLookups.findRun(authentication, params.runId),
    authorization: { action: "read", resources: runResources },
  },
  ({ resource }) => ({ feed: { kind: "logs", runId: resource.id } }),
);

export const loader = route.loader;
export const action = route.action;
