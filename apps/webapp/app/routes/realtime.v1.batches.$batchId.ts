/**
 * GET /realtime/v1/batches/:batchId — every run of a batch, including runs added later
 * (checklist #1, #27, #33).
 */
import { z } from "zod";
import { createFeedRoute } from "../services/realtime/feedRoute.server";
import { ResourceId } from "../services/runLookup.server";

const route = createFeedRoute(
  {
    name: "realtime.v1.batches.$batchId",
    method: "GET",
    params: z.object({ batchId: ResourceId }),
    allowJWT: true,
    cors: true,
    shouldRetryNotFound: true,
    findResource: ({ params, authentication, services }) =>
      services.feedLookups.findBatch(authentication.environment.id, params.batchId),
    authorization: {
      action: "read",
      resources: (batch) => [{ type: "batch", id: batch.friendlyId }, { type: "runs" }],
    },
  },
  ({ resource }) => ({ feed: { kind: "batch", batchId: resource.id } }),
);

export const loader = route.loader;
export const action = route.action;
