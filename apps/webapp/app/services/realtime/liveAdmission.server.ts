/**
 * A live request's slot in its environment's concurrency limit (realtime-contract §3, checklist #37),
 * for every realtime backend: admitted (with the release to call once it has answered) or the 429/503
 * to answer instead.
 */
import type { Authentication } from "../auth.server";
import type { Services } from "../services.server";
import { type FeedReply, jsonReply } from "./feedReply.server";

export type LiveAdmission = { release: () => Promise<void> } | { reply: FeedReply };

export async function admitLive(
  services: Services,
  authentication: Authentication,
  origin: string,
): Promise<LiveAdmission> {
  const environment = authentication.environment;
  const limit = environment.realtimeConcurrencyLimit ?? services.env.REALTIME_DEFAULT_CONCURRENCY_LIMIT;
  const admission = await services.realtime.limiter.acquire(environment.id, limit);
  if (admission.kind === "rejected") {
    return { reply: jsonReply(429, { error: "Too many concurrent requests" }, origin, { "retry-after": "1" }) };
  }
  if (admission.kind === "unavailable") {
    return {
      reply: jsonReply(503, { error: "Realtime concurrency limiter unavailable" }, origin, { "retry-after": "1" }),
    };
  }
  return { release: admission.release };
}
