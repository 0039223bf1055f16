/**
 * Public access tokens as JWTs (realtime-contract §4.1, §4.3): HS256, signed with the environment's root
 * key (a branch's parent's). Recognising one, reading its claims, and the imported signing key that
 * both minting (signPublicToken) and the Authenticator's verification (auth.server.ts) use.
 */
import { JWT_AUDIENCE, JWT_ISSUER } from "@runfeed/core";
import { SignJWT, decodeJwt } from "jose";
import type { AuthenticatedEnvironment, RealtimeClaims } from "./auth.server";
import { TtlCache, cachedLookup } from "./ttlCache.server";

/** A JWT whose unverified payload says `pub: true` (the SDK's own test, contract §4.1). */
export function isPublicJWT(token: string): boolean {
  // Not three dot-separated parts (every secret key): decodeJwt would only throw, and building that
  // error (with its stack) was a measurable share of each secret-key request.
  if (token.split(".", 4).length !== 3) return false;
  try {
    return decodeJwt(token).pub === true;
  } catch {
    return false;
  }
}

/** Branch environments sign with their parent's key (contract §4.3). */
export function signingKey(environment: AuthenticatedEnvironment): Uint8Array {
  return new TextEncoder().encode(environment.parentEnvironment?.apiKey ?? environment.apiKey);
}

/**
 * The signing key imported once as an HS256 CryptoKey (jose would import the raw bytes on every sign
 * and verify — every trigger response signs one); cached by key material, so a rolled key is a new entry.
 * Module-wide on purpose, unlike the Authenticator's caches: it holds no answer about any database row,
 * only a pure function of the key bytes, and signPublicToken also runs without an app (seed, tests).
 */
const hmacKeys = new TtlCache<Promise<CryptoKey>>({ ttlMs: 10 * 60_000, maxEntries: 1_000 });
export function hmacKey(environment: AuthenticatedEnvironment): Promise<CryptoKey> {
  const secret = environment.parentEnvironment?.apiKey ?? environment.apiKey;
  return cachedLookup(hmacKeys, secret, () =>
    crypto.subtle.importKey(
      "raw",
      signingKey(environment) as Uint8Array<ArrayBuffer>,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign", "verify"],
    ),
  );
}

export interface PublicTokenClaims {
  scopes: string[];
  realtime?: RealtimeClaims;
  otu?: boolean;
}

/** Mints a public JWT for an environment, as the server does for trigger/batch responses. */
export async function signPublicToken(
  environment: AuthenticatedEnvironment,
  claims: PublicTokenClaims,
  expirationTime: string | number = "1h",
): Promise<string> {
  return new SignJWT({ pub: true, ...claims })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(environment.id)
    .setIssuer(JWT_ISSUER)
    .setAudience(JWT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(expirationTime)
    .sign(await hmacKey(environment));
}

export function parseRealtimeClaim(value: unknown): RealtimeClaims | undefined {
  if (!value || typeof value !== "object") return undefined;
  const skip = (value as { skipColumns?: unknown }).skipColumns;
  return Array.isArray(skip) ? { skipColumns: skip.filter((s): s is string => typeof s === "string") } : {};
}

export function safeDecode(token: string) {
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}
