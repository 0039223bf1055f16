/**
 * Public tokens the server mints (realtime-contract §4.5, checklist #35, #38, #39):
 * - `POST /api/v1/auth/public-tokens` for additional API keys (scope subset, expiry ≤ 30 days);
 * - the `x-trigger-jwt` / `x-trigger-jwt-claims` headers of trigger and batch responses (1 h).
 */
import {
  TRIGGER_JWT_CLAIMS_HEADER,
  TRIGGER_JWT_HEADER,
  parseDurationMs,
  type CreatePublicTokenRequestBody,
} from "@runfeed/core";
import type { AuthenticatedEnvironment, Authentication, RealtimeClaims } from "./auth.server";
import { signPublicToken } from "./auth.server";
import { HttpError, badRequest } from "./httpErrors.server";

export const MAX_PUBLIC_TOKEN_LIFETIME_MS = 30 * 86_400_000;
export const DEFAULT_PUBLIC_TOKEN_EXPIRY = "15m";

export class ScopesExceedKeyAccessError extends HttpError {
  override name = "ScopesExceedKeyAccessError";
  constructor(deniedScopes: string[]) {
    super(403, {
      error: "Requested scopes exceed the API key's access",
      code: "scopes_exceed_key_access",
      deniedScopes,
    });
  }
}

/** Expiry as a relative span ("15m") or epoch seconds → epoch seconds; must be future and ≤ 30 days. */
export function resolvePublicTokenExpiry(expirationTime: string | number | undefined, now = Date.now()): number {
  const value = expirationTime ?? DEFAULT_PUBLIC_TOKEN_EXPIRY;
  let expiresAtMs: number;
  if (typeof value === "number") {
    expiresAtMs = value * 1000;
  } else if (/^\d+$/.test(value.trim())) {
    expiresAtMs = Number(value.trim()) * 1000;
  } else {
    const span = parseDurationMs(value);
    if (span === undefined)
      throw badRequest(`Invalid request body: expirationTime: not a duration or epoch seconds ("${value}")`);
    expiresAtMs = now + span;
  }
  if (!Number.isFinite(expiresAtMs) || expiresAtMs <= now)
    throw badRequest("Invalid request body: expirationTime: must be in the future");
  if (expiresAtMs - now > MAX_PUBLIC_TOKEN_LIFETIME_MS)
    throw badRequest("Invalid request body: expirationTime: must be at most 30 days away");
  return Math.floor(expiresAtMs / 1000);
}

export async function createPublicToken(
  authentication: Authentication,
  body: CreatePublicTokenRequestBody,
): Promise<string> {
  const denied = authentication.ability.deniedScopes(body.scopes);
  if (denied.length > 0) throw new ScopesExceedKeyAccessError(denied);
  const exp = resolvePublicTokenExpiry(body.expirationTime);
  return signPublicToken(
    authentication.environment,
    {
      scopes: body.scopes,
      ...(body.oneTimeUse ? { otu: true } : {}),
      ...(body.realtime ? { realtime: body.realtime } : {}),
    },
    exp,
  );
}

/** The realtime claim of the caller, carried over into tokens minted for it. */
export function callerRealtimeClaim(authentication: Authentication): RealtimeClaims | undefined {
  return authentication.type === "PUBLIC_JWT" ? authentication.realtime : undefined;
}

/** `x-trigger-jwt` + `x-trigger-jwt-claims` for a response. */
export async function responseTokenHeaders(
  environment: AuthenticatedEnvironment,
  scopes: string[],
  realtime: RealtimeClaims | undefined,
): Promise<Record<string, string>> {
  const claims = { sub: environment.id, pub: true, scopes, ...(realtime ? { realtime } : {}) };
  const jwt = await signPublicToken(environment, { scopes, ...(realtime ? { realtime } : {}) }, "1h");
  return { [TRIGGER_JWT_HEADER]: jwt, [TRIGGER_JWT_CLAIMS_HEADER]: JSON.stringify(claims) };
}
