/**
 * POST /api/v3/batches/:batchId/items — phase 2: NDJSON items (realtime-contract §6.2, checklist #39).
 * `application/x-ndjson` only (415 otherwise). Authorized by `write:batch:<id>` (the browser batch token)
 * or `batchTrigger` on every item's task.
 */
import { z } from "zod";
import { createApiRoute, readText } from "../services/apiRoute.server";
import { addBatchItems, parseBatchItems } from "../services/batch.server";
import { HttpError, forbidden } from "../services/httpErrors.server";
import { ResourceId } from "../services/runLookup.server";

export const BATCH_ITEMS_MAXIMUM_SIZE = 16 * 1024 * 1024;

const route = createApiRoute(
  {
    name: "api.v3.batches.items",
    method: "POST",
    urgency: "critical",
    params: z.object({ batchId: ResourceId }),
    allowJWT: true,
  },
  async ({ request, params, authentication, services }) => {
    const contentType = request.headers.get("content-type") ?? "";
    if (!contentType.toLowerCase().startsWith("application/x-ndjson")) {
      throw new HttpError(415, { error: "Content-Type must be application/x-ndjson" });
    }
    const items = parseBatchItems(await readText(request, BATCH_ITEMS_MAXIMUM_SIZE));
    const { ability } = authentication;
    const allowed =
      ability.can("write", { type: "batch", id: params.batchId }) ||
      items.every((item) => ability.can("batchTrigger", { type: "tasks", id: item.task }));
    if (!allowed) throw forbidden();
    const result = await addBatchItems(
      services.prisma,
      services.sqlPool,
      authentication.environment,
      params.batchId,
      items,
      services.env.TASK_RUN_METADATA_MAXIMUM_SIZE,
      services.runSignals,
    );
    return Response.json(result);
  },
);

export const loader = route.loader;
export const action = route.action;
