/**
 * POST /api/v1/runs/:runId/reschedule (`runs.reschedule` of the SDK): a new delay for a DELAYED run,
 * answered with the run as GET /api/v3/runs/:runId shows it. 422 when the run is no longer delayed.
 */
import { RescheduleRunRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { rescheduleRun } from "../engine/delays.server";
import { runChangedOf } from "../services/realtime/native/runSignals.server";
import { presentRetrievedRun } from "../services/retrieve.server";
import { RunIdParams, runWhere } from "../services/runLookup.server";

const route = createApiRoute(
  {
    name: "api.v1.runs.reschedule",
    method: "POST",
    urgency: "critical",
    params: RunIdParams,
    body: RescheduleRunRequestBody,
    allowJWT: true,
    findResource: ({ params, authentication, services }) =>
      services.prisma.taskRun.findFirst({
        where: runWhere(authentication.environment.id, params.runId),
        include: { batch: { select: { friendlyId: true } } },
      }),
    notFoundMessage: "Run not found",
    authorization: {
      action: "write",
      resources: (run) => [
        { type: "runs", id: run.friendlyId },
        { type: "tasks", id: run.taskIdentifier },
      ],
    },
  },
  async ({ resource: run, body, services, apiVersion }) => {
    const updated = await rescheduleRun(services.prisma, run, body.delay);
    services.runSignals.publishRunChanged(runChangedOf(updated));
    return Response.json(await presentRetrievedRun(services.prisma, { ...updated, batch: run.batch }, apiVersion));
  },
);

export const loader = route.loader;
export const action = route.action;
