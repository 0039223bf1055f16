/**
 * The Trigger.dev wire names the SDK sends (realtime-contract §1.1, §6), named once.
 * Electric protocol names live in @runfeed/core (electric-protocol.ts).
 */
export const AUTHORIZATION_HEADER = "authorization";
export const API_VERSION_HEADER = "x-trigger-api-version";
/** The API version whose status names we understand (DEQUEUED is not rewritten to EXECUTING). */
export const API_VERSION = "2025-07-16";
export const SOURCE_HEADER = "x-trigger-source";
export const CLIENT_HEADER = "x-trigger-client";
export const REQUEST_IDEMPOTENCY_KEY_HEADER = "x-trigger-request-idempotency-key";
export const SHOULD_RETRY_HEADER = "x-should-retry";
export const RATE_LIMIT_RESET_HEADER = "x-ratelimit-reset";
export const RETRY_AFTER_HEADER = "retry-after";
/** Server-minted public token on trigger and batch responses (§6.1, §6.2). */
export const JWT_HEADER = "x-trigger-jwt";
export const NDJSON_CONTENT_TYPE = "application/x-ndjson";

/** Public-JWT claims fixed by the contract (§4.3). */
export const JWT_ISSUER = "https://id.trigger.dev";
export const JWT_AUDIENCE = "https://api.trigger.dev";
export const DEFAULT_PUBLIC_TOKEN_EXPIRATION = "15m";

/** Realtime query parameters (§1.2). */
export const TAGS_PARAM = "tags";
export const CREATED_AT_PARAM = "createdAt";
export const SKIP_COLUMNS_PARAM = "skipColumns";

export const bearer = (token: string) => `Bearer ${token}`;
