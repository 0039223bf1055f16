/**
 * A live request's slot in its environment's concurrency limit (realtime-contract §3, checklist #37),
 * for every realtime backend: admitted (with the release to call once it has answered) or the 429/503
 * to answer instead.
 */
import type { Authentication } from "../auth.server";
import { limiterUnavailable, tooManyConcurrentRequests } from "../httpErrors.server";
import type { Services } from "../services.server";
import { type FeedReply, jsonReply } from "./feedReply.server";

export type LiveAdmission = { release: () => Promise<void> } | { reply: FeedReply };

export async function admitLive(
  services: Services,
  authentication: Authentication,
  origin: string,
  options: { optimistic?: boolean } = {},
): Promise<LiveAdmission> {
  const environment = authentication.environment;
  const limit = environment.realtimeConcurrencyLimit ?? services.env.REALTIME_DEFAULT_CONCURRENCY_LIMIT;
  const admission = await services.realtime.limiter.acquire(environment.id, limit, options);
  if (admission.kind !== "admitted") {
    const refusal = admission.kind === "rejected" ? tooManyConcurrentRequests() : limiterUnavailable();
    return { reply: jsonReply(refusal.status, refusal.body, origin, refusal.headers) };
  }
  return { release: admission.release };
}
