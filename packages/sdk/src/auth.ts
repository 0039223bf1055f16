/** Public tokens (contract §4.3, §4.5): self-signed with a root key, minted by the server for `_sk_` keys. */
import { ADDITIONAL_KEY_REGEX, flattenScopes } from "@runfeed/core";
import { SignJWT } from "jose";
import { resolveConfig, type RequestOptions } from "./config.js";
import { ConfigurationError, NotFoundError, RunfeedError } from "./errors.js";
import { apiRequest } from "./http.js";
import { DEFAULT_PUBLIC_TOKEN_EXPIRATION, JWT_AUDIENCE, JWT_ISSUER } from "@runfeed/core";

/** `{ read: { runs: ["run_1"], tags: "t" } }` or flat `["read:runs:run_1"]`. */
export type PublicTokenScopes = Record<string, Record<string, true | string | string[]>> | readonly string[];

export interface CreatePublicTokenOptions extends RequestOptions {
  scopes?: PublicTokenScopes;
  /** "15m", "1h", "2d", epoch seconds, or a Date. Default "15m". */
  expirationTime?: string | number | Date;
  /** Forces these skipped columns on every realtime feed the token reads. */
  realtime?: { skipColumns?: string[] };
}

function toScopeList(scopes: PublicTokenScopes | undefined): string[] | undefined {
  if (scopes === undefined) return undefined;
  if (isScopeList(scopes)) return [...scopes];
  return flattenScopes(scopes);
}
const isScopeList = (scopes: PublicTokenScopes): scopes is readonly string[] => Array.isArray(scopes);

/**
 * Creates a short-lived public token for a browser.
 *
 * @example
 * ```ts
 * const token = await auth.createPublicToken({ scopes: { read: { runs: [runId] } }, expirationTime: "1h" });
 * ```
 */
export async function createPublicToken(options: CreatePublicTokenOptions = {}): Promise<string> {
  const config = resolveConfig(options);
  const scopes = toScopeList(options.scopes);
  if (scopes?.some((scope) => scope.split(":").some((part, i) => i < 3 && part === ""))) {
    throw new RunfeedError(`Scopes must not contain empty ids: ${JSON.stringify(scopes)}`);
  }

  if (ADDITIONAL_KEY_REGEX.test(config.accessToken)) {
    if (!scopes || scopes.length === 0)
      throw new ConfigurationError("Public tokens created with an additional (_sk_) key need scopes.");
    const expirationTime =
      options.expirationTime instanceof Date
        ? Math.floor(options.expirationTime.getTime() / 1000)
        : options.expirationTime;
    try {
      const { data } = await apiRequest<{ token: string }>(
        {
          method: "POST",
          path: "/api/v1/auth/public-tokens",
          body: { scopes, expirationTime, realtime: options.realtime },
        },
        options,
      );
      return data.token;
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new RunfeedError(
          `${config.baseURL} does not support public-token minting (POST /api/v1/auth/public-tokens answered 404); use the root secret key instead.`,
        );
      }
      throw error;
    }
  }

  const { data: claims } = await apiRequest<Record<string, unknown>>(
    { method: "POST", path: "/api/v1/auth/jwt/claims" },
    options,
  );
  return new SignJWT({
    ...claims,
    ...(scopes ? { scopes } : {}),
    ...(options.realtime ? { realtime: options.realtime } : {}),
  })
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(options.expirationTime ?? DEFAULT_PUBLIC_TOKEN_EXPIRATION)
    .sign(new TextEncoder().encode(config.accessToken));
}
