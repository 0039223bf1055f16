/**
 * POST /api/v3/batches — phase 1 of the two-phase batch trigger (realtime-contract §6.2, checklist #39).
 * Authorization: `batchTrigger` on every listed task, or collection-level `tasks`/`batch`.
 */
import {
  CreateBatchRequestBody,
  TRIGGER_CLIENT_HEADER,
  TRIGGER_JWT_CLAIMS_HEADER,
  TRIGGER_JWT_HEADER,
} from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { signPublicToken } from "../services/auth.server";
import { createBatch } from "../services/batch.server";
import { forbidden } from "../services/httpErrors.server";
import { callerRealtimeClaim } from "../services/publicTokens.server";

const route = createApiRoute(
  {
    name: "api.v3.batches",
    method: "POST",
    urgency: "critical",
    body: CreateBatchRequestBody,
    maxContentLength: 128 * 1024,
    allowJWT: true,
    cors: true,
  },
  async ({ request, body, authentication, services }) => {
    const { ability, environment } = authentication;
    const collection = ability.canAny("batchTrigger", [{ type: "tasks" }, { type: "batch" }]);
    const listed =
      !!body.taskIdentifiers?.length &&
      body.taskIdentifiers.every((id) => ability.can("batchTrigger", { type: "tasks", id }));
    if (!collection && !listed) throw forbidden();

    const { batch, isCached } = await createBatch(services.prisma, environment, body);
    const scopes = [`read:batch:${batch.friendlyId}`];
    if (request.headers.get(TRIGGER_CLIENT_HEADER) === "browser") scopes.push(`write:batch:${batch.friendlyId}`);
    const realtime = callerRealtimeClaim(authentication);
    const jwt = await signPublicToken(environment, { scopes, ...(realtime ? { realtime } : {}) }, "1h");
    return Response.json(
      {
        id: batch.friendlyId,
        runCount: batch.runCount,
        isCached,
        ...(batch.idempotencyKey ? { idempotencyKey: batch.idempotencyKey } : {}),
      },
      {
        headers: {
          [TRIGGER_JWT_HEADER]: jwt,
          [TRIGGER_JWT_CLAIMS_HEADER]: JSON.stringify({ sub: environment.id, pub: true }),
        },
      },
    );
  },
);

export const loader = route.loader;
export const action = route.action;
