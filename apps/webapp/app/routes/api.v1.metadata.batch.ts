/**
 * POST /api/v1/metadata/batch — metadata operations for many runs in one request, buffered
 * (docs/decisions/092-write-pipeline.md): validated whole (a bad item is a 400 naming it and nothing
 * is queued), appended to the high-urgency Redis streams, answered 202. The drain applies them
 * within about a second; the response carries no metadata (use GET …/metadata or a subscription).
 * Secret keys only; each item's run must be writable by the key.
 */
import { MAX_BATCH_BYTES, MetadataBatchRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { acceptBatch } from "../services/writePipeline/batchRoute.server";

const post = createApiRoute(
  {
    name: "api.v1.metadata.batch",
    method: "POST",
    urgency: "high",
    body: MetadataBatchRequestBody,
    maxContentLength: MAX_BATCH_BYTES,
  },
  ({ request, body, authentication, services }) => acceptBatch(request, services, "high", authentication, body.items),
);

export const action = post.action;
export const loader = post.loader;
