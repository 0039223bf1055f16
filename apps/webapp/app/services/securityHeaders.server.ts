/**
 * Security headers on every response the Express app sends (docs/decisions/080-dashboard-security.md):
 * a Content-Security-Policy that allows only our own scripts (plus Remix's inline scripts by nonce),
 * styles, images and connections and no framing; X-Frame-Options DENY; nosniff; a same-origin
 * Referrer-Policy; HSTS when the app is served over HTTPS. Helmet writes them.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppLoadContext } from "@remix-run/node";
import type { RequestHandler } from "express";
import helmet from "helmet";

/** Per-request values the headers need, set on `res.locals.context` before these run (server/app.ts). */
const contextOf = (res: ServerResponse) => (res as unknown as { locals: { context: AppLoadContext } }).locals.context;

const nonce = (_req: IncomingMessage, res: ServerResponse) => `'nonce-${contextOf(res).cspNonce}'`;

/** One year: the HSTS age browsers and preload lists expect. */
const HSTS_MAX_AGE_SECONDS = 31_536_000;

export function cspDirectives() {
  return {
    "default-src": ["'self'"],
    "script-src": ["'self'", nonce],
    "script-src-attr": ["'none'"],
    "style-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
  };
}

export function securityHeaders(): RequestHandler[] {
  return [
    helmet({
      contentSecurityPolicy: { useDefaults: false, directives: cspDirectives() },
      xFrameOptions: { action: "deny" },
      // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on our own form
      // posts, and the cross-origin check (csrf.server.ts) needs the real one.
      referrerPolicy: { policy: "same-origin" },
      // Per request below: only when served over HTTPS.
      strictTransportSecurity: false,
    }),
    (_req, res, next) => {
      if (contextOf(res).client.secure) {
        res.setHeader("strict-transport-security", `max-age=${HSTS_MAX_AGE_SECONDS}`);
      }
      next();
    },
  ];
}
