/**
 * POST /api/v1/tasks/:taskId/trigger (realtime-contract §6.1, checklist #38).
 * Secret keys, additional keys and public JWTs with `trigger:tasks:<id>`; CORS for browsers.
 */
import { runChangedOf } from "../services/realtime/native/runSignals.server";
import {
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_TTL_HEADER,
  REQUEST_IDEMPOTENCY_KEY_HEADER,
  TriggerTaskRequestBody,
} from "@runfeed/core";
import { z } from "zod";
import { createApiRoute } from "../services/apiRoute.server";
import { sha256 } from "../services/auth.server";
import { callerRealtimeClaim, responseTokenHeaders } from "../services/publicTokens.server";
import { TASK_PAYLOAD_MAXIMUM_SIZE, triggerRun } from "../services/trigger.server";

/** zodfetch retries a request at most 5 times with ≤ 30 s between tries; 10 minutes covers them all. */
const REQUEST_IDEMPOTENCY_TTL_SECONDS = 600;

const route = createApiRoute(
  {
    name: "api.v1.tasks.trigger",
    method: "POST",
    urgency: "critical",
    params: z.object({ taskId: z.string().min(1).max(512) }),
    body: TriggerTaskRequestBody,
    maxContentLength: TASK_PAYLOAD_MAXIMUM_SIZE,
    allowJWT: true,
    cors: true,
    authorization: { action: "trigger", resources: (_, params) => [{ type: "tasks", id: params.taskId }] },
  },
  async ({ request, params, body, authentication, services }) => {
    const { environment } = authentication;
    // A zodfetch retry of the same request (same x-trigger-request-idempotency-key) gets the same answer.
    const requestKey = request.headers.get(REQUEST_IDEMPOTENCY_KEY_HEADER);
    const cacheKey = requestKey
      ? `${services.env.REDIS_KEY_PREFIX}trigger-request:${environment.id}:${requestKey}`
      : undefined;
    let answer: { id: string; isCached: boolean } | undefined;
    if (cacheKey) {
      const cached = await services.redis.get(cacheKey).catch(() => null);
      if (cached) answer = JSON.parse(cached) as { id: string; isCached: boolean };
    }
    if (!answer) {
      const { run, isCached } = await triggerRun(
        services.prisma,
        {
          environment,
          taskId: params.taskId,
          body,
          idempotencyKeyHeader: request.headers.get(IDEMPOTENCY_KEY_HEADER),
          idempotencyKeyTTLHeader: request.headers.get(IDEMPOTENCY_KEY_TTL_HEADER),
          oneTimeUseToken:
            authentication.type === "PUBLIC_JWT" && authentication.oneTimeUse
              ? sha256(authentication.token)
              : undefined,
          metadataMaximumSize: services.env.TASK_RUN_METADATA_MAXIMUM_SIZE,
        },
        services.sqlPool,
      );
      if (!isCached) services.runSignals.publishRunChanged(runChangedOf(run));
      answer = { id: run.friendlyId, isCached };
      if (cacheKey)
        await services.redis
          .set(cacheKey, JSON.stringify(answer), "EX", REQUEST_IDEMPOTENCY_TTL_SECONDS)
          .catch(() => {});
    }
    const headers = await responseTokenHeaders(
      environment,
      [`read:runs:${answer.id}`, `write:inputStreams:${answer.id}`],
      callerRealtimeClaim(authentication),
    );
    return Response.json(answer, { headers });
  },
);

export const loader = route.loader;
export const action = route.action;
