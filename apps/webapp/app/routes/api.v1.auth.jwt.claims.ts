/**
 * POST /api/v1/auth/jwt/claims (realtime-contract §4.5, checklist #34): the claims the SDK signs
 * locally with the root key. Secret keys only.
 */
import { createApiRoute } from "../services/apiRoute.server";

const route = createApiRoute({ name: "api.v1.auth.jwt.claims", method: "POST" }, async ({ authentication }) =>
  Response.json({ sub: authentication.environment.id, pub: true }),
);

export const loader = route.loader;
export const action = route.action;
