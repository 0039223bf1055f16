/**
 * GET /api/v3/runs/:runId → RetrieveRunResponse (realtime-contract §6.7, checklist #44).
 * JWT + CORS (useRun); 404 carries `x-should-retry: true`. Authorized like the single-run feed:
 * any of `runs:<id>`, `tasks:<task>`, `tags:<each tag>`, `batch:<batch id>`.
 */
import { createApiRoute } from "../services/apiRoute.server";
import { presentRetrievedRun } from "../services/retrieve.server";
import { RunIdParams, runWhere } from "../services/runLookup.server";

const route = createApiRoute(
  {
    name: "api.v3.runs.retrieve",
    method: "GET",
    params: RunIdParams,
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) =>
      services.prisma.taskRun.findFirst({
        where: runWhere(authentication.environment.id, params.runId),
        include: { batch: { select: { friendlyId: true } } },
      }),
    notFoundMessage: "Task Run not found",
    shouldRetryNotFound: true,
    authorization: {
      action: "read",
      resources: (run) => [
        { type: "runs", id: run.friendlyId },
        { type: "tasks", id: run.taskIdentifier },
        ...(run.runTags ?? []).map((tag) => ({ type: "tags", id: tag })),
        ...(run.batch ? [{ type: "batch", id: run.batch.friendlyId }] : []),
      ],
    },
  },
  async ({ resource: run, services, apiVersion }) =>
    Response.json(await presentRetrievedRun(services.prisma, run, apiVersion)),
);

export const loader = route.loader;
export const action = route.action;
