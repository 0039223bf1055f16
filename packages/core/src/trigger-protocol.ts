/**
 * The Trigger.dev wire values runfeed shares with the unmodified @trigger.dev/sdk 4.8.3: header names,
 * the API version date, the public-JWT issuer and audience, and the realtime query parameters
 * (realtime-contract §1.1, §1.2, §4.3, §6), named once. Used by packages/sdk (client side) and
 * apps/webapp (server side). Electric protocol names live in electric-protocol.ts. Pure: no I/O.
 */

// --- API version (§1.1, §3.5)
/** The API version whose status names clients understand as sent (DEQUEUED is not rewritten to EXECUTING). */
export const TRIGGER_API_VERSION = "2025-07-16";
export type TriggerApiVersion = typeof TRIGGER_API_VERSION;

// --- Request headers the SDK sends (§1.1, §6)
export const AUTHORIZATION_HEADER = "authorization";
export const API_VERSION_HEADER = "x-trigger-api-version";
export const TRIGGER_VERSION_HEADER = "trigger-version";
export const TRIGGER_BRANCH_HEADER = "x-trigger-branch";
export const TRIGGER_ELECTRIC_VERSION_HEADER = "x-trigger-electric-version";
export const TRIGGER_REALTIME_STREAMS_VERSION_HEADER = "x-trigger-realtime-streams-version";
export const TRIGGER_SOURCE_HEADER = "x-trigger-source";
/** `browser` when the SDK runs in a browser. */
export const TRIGGER_CLIENT_HEADER = "x-trigger-client";
/** zodfetch's per-request key, reused across its retries. */
export const REQUEST_IDEMPOTENCY_KEY_HEADER = "x-trigger-request-idempotency-key";
export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
export const IDEMPOTENCY_KEY_TTL_HEADER = "idempotency-key-ttl";

// --- Response headers (§6.1, §6.2)
/** A server-minted public JWT for the created run/batch (CORS-exposed). */
export const TRIGGER_JWT_HEADER = "x-trigger-jwt";
/** The claims of that JWT as JSON, for clients that self-sign. */
export const TRIGGER_JWT_CLAIMS_HEADER = "x-trigger-jwt-claims";
export const SHOULD_RETRY_HEADER = "x-should-retry";
export const RATE_LIMIT_RESET_HEADER = "x-ratelimit-reset";
export const RETRY_AFTER_HEADER = "retry-after";
export const NDJSON_CONTENT_TYPE = "application/x-ndjson";

// --- Public JWTs (§4.3)
export const JWT_ISSUER = "https://id.trigger.dev";
export const JWT_AUDIENCE = "https://api.trigger.dev";
export const DEFAULT_PUBLIC_TOKEN_EXPIRATION = "15m";

// --- Realtime query parameters (§1.2)
export const TAGS_PARAM = "tags";
export const CREATED_AT_PARAM = "createdAt";
export const SKIP_COLUMNS_PARAM = "skipColumns";

export const bearer = (token: string) => `Bearer ${token}`;
