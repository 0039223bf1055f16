/**
 * POST /api/v1/auth/public-tokens (realtime-contract §4.5, checklist #35): API keys only (no JWTs);
 * every requested scope must fit the key (403 scopes_exceed_key_access); expiry future, ≤ 30 days.
 */
import { CreatePublicTokenRequestBody } from "@runfeed/core";
import { createApiRoute } from "../services/apiRoute.server";
import { createPublicToken } from "../services/publicTokens.server";

const route = createApiRoute(
  {
    name: "api.v1.auth.public-tokens",
    method: "POST",
    body: CreatePublicTokenRequestBody,
    maxContentLength: 64 * 1024,
  },
  async ({ body, authentication }) => Response.json({ token: await createPublicToken(authentication, body) }),
);

export const loader = route.loader;
export const action = route.action;
