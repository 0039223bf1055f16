/**
 * CORS for API routes (realtime-contract §2.3, checklist #2–#4). Browsers call the SDK routes from other
 * origins with Authorization and trigger-* headers, so every such route answers preflights.
 * A response that already carries access-control-allow-origin (a proxied shape response) is left alone.
 */
const ALLOWED_METHODS = "GET, HEAD, PUT, PATCH, POST, DELETE";
const DEFAULT_ALLOWED_HEADERS = [
  "authorization",
  "content-type",
  "trigger-version",
  "x-trigger-electric-version",
  "x-trigger-api-version",
  "x-trigger-branch",
  "x-trigger-source",
  "x-trigger-client",
  "x-trigger-realtime-streams-version",
  "x-trigger-request-idempotency-key",
  "idempotency-key",
  "idempotency-key-ttl",
].join(", ");
const EXPOSED_HEADERS = "x-trigger-jwt, x-trigger-jwt-claims";

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
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
