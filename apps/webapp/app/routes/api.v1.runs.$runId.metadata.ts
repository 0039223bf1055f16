/**
 * PUT + GET /api/v1/runs/:runId/metadata (realtime-contract §6.3, checklist #40–#42).
 * Secret keys only (root or additional), no CORS; friendly or internal run id.
 */
import { UpdateMetadataRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { getRunMetadata, updateRunMetadata } from "../services/metadata.server";
import { RunIdParams } from "../services/runLookup.server";

const put = createApiRoute(
  {
    name: "api.v1.runs.metadata.put",
    method: "PUT",
    urgency: "critical",
    params: RunIdParams,
    body: UpdateMetadataRequestBody,
    maxContentLength: 2 * 1024 * 1024,
    authorization: {
      action: "write",
      resources: (_, params) => [{ type: "runs", id: params.runId }, { type: "runs" }],
    },
  },
  async ({ params, body, authentication, services }) => {
    const metadata = await updateRunMetadata(
      services.metadataWriter,
      authentication.environment.id,
      params.runId,
      body,
    );
    return Response.json({ metadata });
  },
);

const get = createApiRoute(
  {
    name: "api.v1.runs.metadata.get",
    method: "GET",
    params: RunIdParams,
    authorization: { action: "read", resources: (_, params) => [{ type: "runs", id: params.runId }, { type: "runs" }] },
  },
  async ({ params, authentication, services }) => {
    const metadata = await getRunMetadata(services.prisma, authentication.environment.id, params.runId);
    return Response.json({ metadata });
  },
);

export const loader = get.loader;
export const action = put.action;
