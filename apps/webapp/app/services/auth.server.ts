/**
 * Bearer authentication (realtime-contract §4.1–4.3, checklist #30–#36):
 * root secret keys, additional keys by SHA-256 hash with scopes, and public JWTs (HS256 only,
 * signed with the environment's root key, iss/aud/exp enforced).
 */
import { createHash } from "node:crypto";
import { errors as joseErrors, jwtVerify } from "jose";
import { ADDITIONAL_KEY_REGEX, Ability, JWT_AUDIENCE, JWT_ISSUER, TRIGGER_BRANCH_HEADER } from "@runfeed/core";
import type { ApiKey, PrismaClient, RuntimeEnvironment, Project } from "@runfeed/database";
import { HttpError, unauthorized } from "./httpErrors.server";
import { TtlCache, cachedLookup } from "./ttlCache.server";
import { hmacKey, isPublicJWT, parseRealtimeClaim, safeDecode } from "./publicJwt.server";

export { isPublicJWT, signPublicToken, signingKey, type PublicTokenClaims } from "./publicJwt.server";

export type AuthenticatedEnvironment = RuntimeEnvironment & {
  project: Project;
  parentEnvironment: RuntimeEnvironment | null;
};

export interface RealtimeClaims {
  skipColumns?: string[];
}

export type Authentication =
  | { type: "SECRET_KEY"; environment: AuthenticatedEnvironment; ability: Ability }
  | { type: "API_KEY"; environment: AuthenticatedEnvironment; ability: Ability; apiKeyId: string; scopes: string[] }
  | {
      type: "PUBLIC_JWT";
      environment: AuthenticatedEnvironment;
      ability: Ability;
      token: string;
      /** The token's `exp` (seconds since the epoch): an event stream is ended then. */
      exp: number;
      scopes: string[];
      realtime?: RealtimeClaims;
      oneTimeUse: boolean;
    };

export interface AuthenticateOptions {
  allowJWT: boolean;
}

const ENV_INCLUDE = { project: true, parentEnvironment: true } as const;

type CachedApiKey = ApiKey & { runtimeEnvironment: AuthenticatedEnvironment };
/**
 * Secret-key lookups (root key → environment, additional-key hash → key), cached per app instance for
 * AUTH_CACHE_TTL_MS. Found keys only: a key created a moment ago works at once, but a rolled root key,
 * a revoked additional key, an archived environment or a deleted project stays accepted by an instance
 * that looked it up less than that long ago (additional keys' `expiresAt` is checked on every request).
 * Public JWTs still read their environment on every request.
 */
export const AUTH_CACHE_TTL_MS = 5_000;

/**
 * Public-JWT verifications remembered by token string (docs/decisions/071-realtime-repoll-cpu.md): a
 * realtime client re-polls with the same token every time a live request answers. Only successful
 * verifications; each is reused only while the environment's signing key is the one it was verified
 * with and its `exp` is still in the future (checked on every request, as jose does: `exp` > now in
 * whole seconds), and for at most VERIFIED_TOKEN_TTL_MS. The environment itself is read per request.
 */
interface VerifiedToken {
  sub: string;
  secret: string;
  exp: number;
  scopes: string[];
  ability: Ability;
  realtime: RealtimeClaims | undefined;
  oneTimeUse: boolean;
}
export const VERIFIED_TOKEN_TTL_MS = 5_000;

/**
 * Bearer authentication of one app instance, with that instance's caches (one per `Services`,
 * createServices): secret-key lookups, public-JWT verifications and the environment reads in flight.
 */
export class Authenticator {
  readonly #prisma: PrismaClient;
  readonly #keyLookups = new TtlCache<Promise<unknown>>({ ttlMs: AUTH_CACHE_TTL_MS, maxEntries: 1_000 });
  readonly #verifiedTokens = new TtlCache<VerifiedToken>({ ttlMs: VERIFIED_TOKEN_TTL_MS, maxEntries: 10_000 });
  /**
   * The environment of a public JWT is read on every request (so a changed realtime limit, an archival
   * or a rolled key is seen at once); requests arriving while the same read is already in flight share
   * it (a woken burst of re-polls with the tokens of one environment costs one query, not one each).
   */
  readonly #inflightEnvironments = new Map<string, Promise<AuthenticatedEnvironment | null>>();

  /** Called after forgetKeys (the realtime feeds forget their remembered authentications too). */
  readonly #onForget: () => void;

  constructor(options: { prisma: PrismaClient; onForgetKeys?: () => void }) {
    this.#prisma = options.prisma;
    this.#onForget = options.onForgetKeys ?? (() => {});
  }

  /** Forgets every cached key lookup (e.g. right after a roll or revoke in-process). */
  forgetKeys(): void {
    this.#keyLookups.clear();
    this.#onForget();
  }

  async authenticate(request: RequestHead, options: AuthenticateOptions): Promise<Authentication> {
    const prisma = this.#prisma;
    const token = bearerToken(request);
    if (!token) throw unauthorized("Invalid or Missing API key");

    if (isPublicJWT(token)) {
      if (!options.allowJWT) throw unauthorized("Public Access Tokens are not allowed on this endpoint");
      return this.#authenticatePublicJWT(token);
    }
    if (ADDITIONAL_KEY_REGEX.test(token)) {
      const keyHash = sha256(token);
      const key = (await cachedLookup(this.#keyLookups, `key:${keyHash}`, () =>
        prisma.apiKey.findUnique({ where: { keyHash }, include: { runtimeEnvironment: { include: ENV_INCLUDE } } }),
      )) as CachedApiKey | null;
      if (!key || key.revokedAt || (key.expiresAt && key.expiresAt < new Date())) throw unauthorized("Invalid API key");
      const environment = await resolveBranch(prisma, key.runtimeEnvironment, request);
      assertLive(environment);
      touchApiKey(prisma, key);
      return {
        type: "API_KEY",
        environment,
        ability: Ability.fromScopes(key.scopes),
        apiKeyId: key.id,
        scopes: key.scopes,
      };
    }
    const rootEnvironment = (await cachedLookup(this.#keyLookups, `root:${token}`, () =>
      prisma.runtimeEnvironment.findUnique({ where: { apiKey: token }, include: ENV_INCLUDE }),
    )) as AuthenticatedEnvironment | null;
    if (!rootEnvironment) throw unauthorized("Invalid API key");
    const environment = await resolveBranch(prisma, rootEnvironment, request);
    assertLive(environment);
    return { type: "SECRET_KEY", environment, ability: Ability.full() };
  }

  async #authenticatePublicJWT(token: string): Promise<Authentication> {
    const invalid = () => unauthorized("Public Access Token is invalid");
    const cached = this.#verifiedTokens.peek(token);
    const sub = cached ? cached.sub : safeDecode(token)?.sub;
    if (typeof sub !== "string" || !sub) throw invalid();
    const environment = await this.#environmentForJWT(sub);
    if (!environment || environment.project.deletedAt || environment.archivedAt)
      throw unauthorized("Invalid Public Access Token");
    const secret = environment.parentEnvironment?.apiKey ?? environment.apiKey;
    // A verification remembered for this token under the same signing key, still unexpired now.
    if (cached && cached.secret === secret && cached.exp > Math.floor(Date.now() / 1000))
      return publicJWTAuthentication(environment, token, cached);
    try {
      const { payload } = await jwtVerify(token, await hmacKey(environment), {
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        algorithms: ["HS256"],
        requiredClaims: ["exp"],
      });
      const scopes = Array.isArray(payload.scopes)
        ? payload.scopes.filter((s): s is string => typeof s === "string")
        : [];
      const verified: VerifiedToken = {
        sub,
        secret,
        exp: payload.exp!,
        scopes,
        ability: Ability.fromScopes(scopes),
        realtime: parseRealtimeClaim(payload.realtime),
        oneTimeUse: payload.otu === true,
      };
      this.#verifiedTokens.set(token, verified);
      return publicJWTAuthentication(environment, token, verified);
    } catch (error) {
      if (error instanceof HttpError) throw error;
      if (error instanceof joseErrors.JOSEError) throw invalid();
      throw error;
    }
  }

  #environmentForJWT(id: string): Promise<AuthenticatedEnvironment | null> {
    const inflight = this.#inflightEnvironments;
    const pending = inflight.get(id);
    if (pending) return pending;
    const read = this.#prisma.runtimeEnvironment.findUnique({
      where: { id },
      include: ENV_INCLUDE,
    }) as Promise<AuthenticatedEnvironment | null>;
    inflight.set(id, read);
    const done = () => void (inflight.get(id) === read && inflight.delete(id));
    read.then(done, done);
    return read;
  }
}

/** What authentication reads of a request: its headers (a Fetch Request, or a view of a node one). */
export interface RequestHead {
  readonly headers: { get(name: string): string | null };
}

export function bearerToken(request: RequestHead): string | undefined {
  const header = request.headers.get("authorization");
  if (!header) return undefined;
  const token = header.replace(/^Bearer /i, "").trim();
  return token || undefined;
}

function publicJWTAuthentication(
  environment: AuthenticatedEnvironment,
  token: string,
  verified: VerifiedToken,
): Authentication {
  return {
    type: "PUBLIC_JWT",
    environment,
    ability: verified.ability,
    token,
    exp: verified.exp,
    scopes: verified.scopes,
    realtime: verified.realtime,
    oneTimeUse: verified.oneTimeUse,
  };
}

export const sha256 = (value: string) => createHash("sha256").update(value).digest("hex");

async function resolveBranch(
  prisma: PrismaClient,
  environment: AuthenticatedEnvironment,
  request: RequestHead,
): Promise<AuthenticatedEnvironment> {
  const branch = request.headers.get(TRIGGER_BRANCH_HEADER)?.trim();
  if (environment.type === "PREVIEW" && !branch)
    throw unauthorized(`${TRIGGER_BRANCH_HEADER} header required for preview env`);
  if (!branch || (environment.type !== "PREVIEW" && environment.type !== "DEVELOPMENT")) return environment;
  if (environment.type === "DEVELOPMENT" && branch === "default") return environment;
  const child = await prisma.runtimeEnvironment.findFirst({
    where: { parentEnvironmentId: environment.id, branchName: branch, archivedAt: null },
    include: ENV_INCLUDE,
  });
  if (!child) throw unauthorized("No matching branch env");
  return child;
}

function assertLive(environment: AuthenticatedEnvironment) {
  if (environment.project.deletedAt || environment.archivedAt) throw unauthorized("Invalid API key");
}

const TOUCH_INTERVAL_MS = 5 * 60_000;
function touchApiKey(prisma: PrismaClient, key: CachedApiKey) {
  if (key.lastUsedAt && Date.now() - key.lastUsedAt.getTime() < TOUCH_INTERVAL_MS) return;
  key.lastUsedAt = new Date(); // the cached copy too, so one touch per interval
  void prisma.apiKey.update({ where: { id: key.id }, data: { lastUsedAt: key.lastUsedAt } }).catch(() => {});
}
