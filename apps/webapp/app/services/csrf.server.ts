/**
 * Cross-site request forgery, beyond SameSite=Lax (docs/decisions/080-dashboard-security.md): every
 * state-changing request to the dashboard (sign-in, sign-out, every form action) must carry an
 * `Origin` header equal to the app's origin. Browsers send Origin on every POST; a page elsewhere
 * cannot forge it. One check for every route, in front of Remix (server/app.ts).
 *
 * Exempt: GET/HEAD/OPTIONS (which change nothing), and the bearer-token APIs under /api/ and
 * /realtime/, which never read the session cookie, so a forged request there carries no authority.
 */
import type { AppLoadContext } from "@remix-run/node";
import type { RequestHandler } from "express";
import { errorBody } from "./httpErrors.server";

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Why the request is refused, or undefined when it may proceed. */
export function crossOriginRefusal(
  method: string,
  url: string,
  origin: string | undefined,
  appOrigin: string,
): string | undefined {
  if (SAFE_METHODS.has(method.toUpperCase())) return undefined;
  // The path as Remix will route it (@remix-run/express parses scheme://host + the request target):
  // dot segments, percent-encoded ones too, resolved.
  let pathname: string;
  try {
    pathname = new URL(`http://path.invalid${url}`).pathname;
  } catch {
    return "Unreadable request path";
  }
  if (pathname.startsWith("/api/") || pathname.startsWith("/realtime/")) return undefined;
  if (!origin) return "Origin header required";
  if (origin !== appOrigin) return `Cross-origin request refused: ${origin} is not ${appOrigin}`;
  return undefined;
}

export function refuseCrossOrigin(): RequestHandler {
  return (req, res, next) => {
    const { client, services } = (res.locals as { context: AppLoadContext }).context;
    const refusal = crossOriginRefusal(req.method, req.url, req.headers.origin, client.origin);
    if (!refusal) return next();
    services.logger.warn(
      { method: req.method, url: req.url, origin: req.headers.origin },
      "refused a cross-origin form",
    );
    res.status(403).json(errorBody(refusal));
  };
}
