/**
 * POST /api/v1/logs/batch — run log lines and events for many runs in one request, buffered in the
 * low-urgency class (docs/decisions/092-write-pipeline.md): validated whole (a bad item is a 400
 * naming it, nothing queued), appended to Redis streams, answered 202; the drain writes them to
 * "TaskRunLog" within a few seconds. Past the low class's high-water mark: 429 with retry-after.
 */
import { type LogBatchItem, LogBatchRequestBody, MAX_BATCH_BYTES } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { acceptBatch } from "../services/writePipeline/batchRoute.server";

const post = createApiRoute(
  {
    name: "api.v1.logs.batch",
    method: "POST",
    urgency: "low",
    body: LogBatchRequestBody,
    maxContentLength: MAX_BATCH_BYTES,
  },
  // A line without a time gets the request's; `seq` is its place in the request, so lines of one
  // millisecond keep the order they were sent in, whichever partition their run's id lands in. The
  // items are zod's own copies: completed in place rather than copied again (a thousand per request).
  ({ request, body, authentication, services }) => {
    const now = new Date().toISOString();
    const items = body.items as Array<LogBatchItem & { seq?: number }>;
    for (let seq = 0; seq < items.length; seq++) {
      const item = items[seq]!;
      item.time ??= now;
      item.seq = seq;
    }
    return acceptBatch(request, services, "low", authentication, items);
  },
);

export const action = post.action;
export const loader = post.loader;
