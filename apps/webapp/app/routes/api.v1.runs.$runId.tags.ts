/**
 * POST /api/v1/runs/:runId/tags (realtime-contract §6.5, checklist #43). Secret keys only.
 */
import { runChangedOf } from "../services/realtime/native/runSignals.server";
import { AddTagsRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { RunIdParams } from "../services/runLookup.server";
import { addRunTags } from "../services/tags.server";

const route = createApiRoute(
  {
    name: "api.v1.runs.tags",
    method: "POST",
    params: RunIdParams,
    body: AddTagsRequestBody,
    maxContentLength: 64 * 1024,
    authorization: {
      action: "write",
      resources: (_, params) => [{ type: "runs", id: params.runId }, { type: "runs" }],
    },
  },
  async ({ params, body, authentication, services }) => {
    const { message, changed } = await addRunTags(
      services.prisma,
      authentication.environment.id,
      params.runId,
      body.tags,
    );
    if (changed) services.runSignals.publishRunChanged(runChangedOf(changed));
    return Response.json({ message });
  },
);

export const loader = route.loader;
export const action = route.action;
