/**
 * GET /realtime/v1/runs/:runId — one run's feed (checklist #1, #25, #33).
 * The run is looked up by friendly id in the token's environment; anything else is a 404.
 */
import { z } from "zod";
import { createApiRoute } from "../services/apiRoute.server";
import { proxyRealtimeFeed } from "../services/realtime/shapeProxy.server";

const route = createApiRoute(
  {
    name: "realtime.v1.runs.$runId",
    method: "GET",
    params: z.object({ runId: z.string().min(1) }),
    allowJWT: true,
    cors: true,
    findResource: ({ params, authentication, services }) =>
      services.prisma.taskRun.findFirst({
        where: { friendlyId: params.runId, runtimeEnvironmentId: authentication.environment.id },
        select: { id: true, friendlyId: true, taskIdentifier: true, runTags: true, batch: { select: { friendlyId: true } } },
      }),
    authorization: {
      action: "read",
      resources: (run) => [
        { type: "runs", id: run.friendlyId },
        { type: "tasks", id: run.taskIdentifier },
        ...run.runTags.map((tag) => ({ type: "tags", id: tag })),
        ...(run.batch ? [{ type: "batch", id: run.batch.friendlyId }] : []),
      ],
    },
  },
  ({ request, resource, authentication, services, apiVersion, signal }) =>
    proxyRealtimeFeed({
      services,
      request,
      authentication,
      apiVersion,
      signal,
      feed: { kind: "run", runId: resource.id },
    }),
);

export const loader = route.loader;
export const action = route.action;
