/**
 * POST /api/v2/runs/:runId/cancel (realtime-contract §6.6, checklist #44): CANCELED + completedAt.
 * Accepts JWTs with `write` on `runs:<id>` or `tasks:<task>`; no CORS, as upstream.
 */
import { createApiRoute } from "../services/apiRoute.server";
import { findRun, RunIdParams } from "../services/runLookup.server";
import { cancelRun } from "../services/runsActions.server";

const route = createApiRoute(
  {
    name: "api.v2.runs.cancel",
    method: "POST",
    urgency: "critical",
    params: RunIdParams,
    allowJWT: true,
    findResource: ({ params, authentication, services }) =>
      findRun(services.prisma, authentication.environment.id, params.runId),
    notFoundMessage: "Run not found",
    authorization: {
      action: "write",
      resources: (run) => [
        { type: "runs", id: run.friendlyId },
        { type: "tasks", id: run.taskIdentifier },
      ],
    },
  },
  async ({ resource: run, services }) => {
    await cancelRun(services.prisma, run, services.runSignals);
    return Response.json({ id: run.friendlyId });
  },
);

export const loader = route.loader;
export const action = route.action;
