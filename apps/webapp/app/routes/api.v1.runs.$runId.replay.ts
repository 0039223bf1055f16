/**
 * POST /api/v1/runs/:runId/replay (realtime-contract §6.6, checklist #44) → `{id}` of the new run.
 * Secret keys only; optional strict body of overrides.
 */
import { ReplayRunRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { findRun, RunIdParams } from "../services/runLookup.server";
import { replayRun } from "../services/runsActions.server";
import { TASK_PAYLOAD_MAXIMUM_SIZE } from "../services/trigger.server";

const route = createApiRoute(
  {
    name: "api.v1.runs.replay",
    method: "POST",
    urgency: "critical",
    params: RunIdParams,
    body: ReplayRunRequestBody.optional(),
    maxContentLength: TASK_PAYLOAD_MAXIMUM_SIZE,
    findResource: ({ params, authentication, services }) =>
      findRun(services.prisma, authentication.environment.id, params.runId),
    notFoundMessage: "Run not found",
    authorization: {
      action: "trigger",
      resources: (run) => [{ type: "tasks", id: run.taskIdentifier }, { type: "tasks" }],
    },
  },
  async ({ resource: run, body, authentication, services }) => {
    const replayed = await replayRun(
      services.prisma,
      authentication.environment,
      run,
      body,
      services.env.TASK_RUN_METADATA_MAXIMUM_SIZE,
      services.runSignals,
    );
    return Response.json({ id: replayed.friendlyId });
  },
);

export const loader = route.loader;
export const action = route.action;
