/**
 * CORS for API routes (realtime-contract §2.3, checklist #2–#4). Browsers call the SDK routes from other
 * origins with Authorization and trigger-* headers, so every such route answers preflights.
 * A response that already carries access-control-allow-origin (a proxied shape response) is left alone.
 */
import {
  API_VERSION_HEADER,
  AUTHORIZATION_HEADER,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_TTL_HEADER,
  REQUEST_IDEMPOTENCY_KEY_HEADER,
  TRIGGER_BRANCH_HEADER,
  TRIGGER_CLIENT_HEADER,
  TRIGGER_ELECTRIC_VERSION_HEADER,
  TRIGGER_JWT_CLAIMS_HEADER,
  TRIGGER_JWT_HEADER,
  TRIGGER_REALTIME_STREAMS_VERSION_HEADER,
  TRIGGER_SOURCE_HEADER,
  TRIGGER_VERSION_HEADER,
} from "@runfeed/core";
import { directBodyOf, withDirectBody } from "./directBody.server";

const ALLOWED_METHODS = "GET, HEAD, PUT, PATCH, POST, DELETE";
const DEFAULT_ALLOWED_HEADERS = [
  AUTHORIZATION_HEADER,
  "content-type",
  TRIGGER_VERSION_HEADER,
  TRIGGER_ELECTRIC_VERSION_HEADER,
  API_VERSION_HEADER,
  TRIGGER_BRANCH_HEADER,
  TRIGGER_SOURCE_HEADER,
  TRIGGER_CLIENT_HEADER,
  TRIGGER_REALTIME_STREAMS_VERSION_HEADER,
  REQUEST_IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_HEADER,
  IDEMPOTENCY_KEY_TTL_HEADER,
].join(", ");
const EXPOSED_HEADERS = `${TRIGGER_JWT_HEADER}, ${TRIGGER_JWT_CLAIMS_HEADER}`;

export function preflightResponse(request: Request): Response {
  return new Response("{}", {
    status: 200,
    headers: {
      "content-type": "application/json",
      "access-control-allow-origin": request.headers.get("origin") ?? "*",
      "access-control-allow-methods": ALLOWED_METHODS,
      "access-control-allow-headers": request.headers.get("access-control-request-headers") ?? DEFAULT_ALLOWED_HEADERS,
      "access-control-max-age": "300",
      vary: "Origin, Access-Control-Request-Headers",
    },
  });
}

export function applyCors(request: Request, response: Response): Response {
  if (response.headers.has("access-control-allow-origin")) return response;
  const headers = new Headers(response.headers);
  headers.set("access-control-allow-origin", request.headers.get("origin") ?? "*");
  headers.append("vary", "Origin");
  if (!headers.has("access-control-expose-headers")) headers.set("access-control-expose-headers", EXPOSED_HEADERS);
  const copy = new Response(response.body, { status: response.status, statusText: response.statusText, headers });
  const direct = directBodyOf(response);
  return direct ? withDirectBody(copy, direct) : copy;
}
