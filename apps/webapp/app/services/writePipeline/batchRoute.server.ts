/**
 * What the batched write routes share: every item's run must be writable by the caller (a key scoped
 * to some runs may only address those; otherwise 403 naming the first item refused, nothing queued),
 * then the items are appended and the answer is 202 (or the refusal: 429, 503). A request repeated
 * with the same `x-trigger-request-idempotency-key` is answered 202 again and queues nothing.
 */
import {
  REQUEST_IDEMPOTENCY_KEY_HEADER,
  RETRY_AFTER_HEADER,
  SHOULD_RETRY_HEADER,
  type BatchAcceptedResponse,
  type BufferedClass,
} from "@runfeed/core";
import type { Authentication } from "../auth.server";
import { HttpError, badRequest, forbidden } from "../httpErrors.server";
import type { Services } from "../services.server";

export async function acceptBatch(
  request: Request,
  services: Services,
  urgency: BufferedClass,
  authentication: Authentication,
  items: ReadonlyArray<{ runId: string }>,
): Promise<Response> {
  const refused = items.findIndex(
    (item) => !authentication.ability.canAny("write", [{ type: "runs", id: item.runId }, { type: "runs" }]),
  );
  if (refused >= 0) {
    const error = forbidden();
    throw new HttpError(403, {
      ...error.body,
      error: `items.${refused}: this key may not write run ${items[refused]!.runId}`,
    });
  }
  const requestKey = request.headers.get(REQUEST_IDEMPOTENCY_KEY_HEADER) ?? undefined;
  if (requestKey !== undefined && (requestKey.length === 0 || requestKey.length > 256)) {
    throw badRequest(`${REQUEST_IDEMPOTENCY_KEY_HEADER} must be 1–256 characters`);
  }
  const outcome = await services.writePipeline.acceptor.accept(
    urgency,
    authentication.environment.id,
    items,
    requestKey,
  );
  if (outcome.kind === "refused") {
    services.metrics.pipelineRefused.inc({ class: urgency });
    const seconds = outcome.retryAfterSeconds;
    throw new HttpError(
      429,
      { error: `The ${urgency}-urgency write buffer is full; retry after ${seconds} s`, code: "write_buffer_full" },
      { [RETRY_AFTER_HEADER]: String(seconds) },
    );
  }
  if (outcome.kind === "unavailable") {
    throw new HttpError(
      503,
      {
        error: `The write buffer is unavailable (${outcome.reason}); nothing was queued, retry`,
        code: "write_buffer_unavailable",
      },
      { [SHOULD_RETRY_HEADER]: "true" },
    );
  }
  return Response.json({ accepted: items.length, urgency } satisfies BatchAcceptedResponse, { status: 202 });
}
