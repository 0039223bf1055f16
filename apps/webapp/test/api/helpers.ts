/**
 * Helpers for the API integration tests: additional keys, hand-made JWTs, and a fetch wrapper that
 * sends what the 4.8.3 SDK sends.
 */
import { createHash } from "node:crypto";
import { SignJWT } from "jose";
import { generateAdditionalKey, type EnvironmentType } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";

export const ISS = "https://id.trigger.dev";
export const AUD = "https://api.trigger.dev";

export const SDK_HEADERS = {
  "content-type": "application/json",
  "trigger-version": "4.8.3",
  "x-trigger-source": "sdk",
  "x-trigger-api-version": "2025-07-16",
};

export async function createAdditionalKey(
  prisma: PrismaClient,
  environment: { id: string; type: EnvironmentType },
  scopes: string[],
  extra: { expiresAt?: Date; revokedAt?: Date } = {},
): Promise<string> {
  const key = generateAdditionalKey(environment.type);
  await prisma.apiKey.create({
    data: {
      name: `test ${scopes.join(" ")}`,
      keyHash: createHash("sha256").update(key).digest("hex"),
      keyPrefix: key.slice(0, 12),
      scopes,
      runtimeEnvironmentId: environment.id,
      ...extra,
    },
  });
  return key;
}

export interface JwtOptions {
  scopes?: string[];
  otu?: boolean;
  exp?: number | string | null;
  iss?: string;
  aud?: string;
  alg?: "HS256" | "HS512";
}

/** Signs a public JWT like the SDK does; every field can be bent for rejection tests. */
export function signJwt(envId: string, key: string, options: JwtOptions = {}): Promise<string> {
  const jwt = new SignJWT({ pub: true, scopes: options.scopes ?? [], ...(options.otu ? { otu: true } : {}) })
    .setProtectedHeader({ alg: options.alg ?? "HS256" })
    .setSubject(envId)
    .setIssuer(options.iss ?? ISS)
    .setAudience(options.aud ?? AUD)
    .setIssuedAt();
  if (options.exp !== null) jwt.setExpirationTime(options.exp ?? "15m");
  return jwt.sign(new TextEncoder().encode(key));
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");

/** A token with an arbitrary header and payload and a garbage signature (alg none, RS256 shapes). */
export function forgeJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ""): string {
  return `${b64url(header)}.${b64url(payload)}.${signature}`;
}

export function api(baseUrl: string, token: string | undefined) {
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${baseUrl}${path}`, {
      method,
      headers: { ...SDK_HEADERS, ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  };
}

/**
 * A request on its own connection (no keep-alive). Used for oversized bodies: the pipeline answers 413
 * from the declared content-length without reading the body, which leaves a kept-alive socket unusable
 * for the next request (reported; apiRoute.server.ts is outside this module's ownership).
 */
export async function isolatedRequest(url: string, method: string, headers: Record<string, string>, body: string) {
  const { request } = await import("node:http");
  return new Promise<{ status: number; json: any }>((resolve, reject) => {
    const req = request(url, { method, agent: false, headers: { ...headers, connection: "close" } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : undefined }));
    });
    req.on("error", (error: NodeJS.ErrnoException) =>
      error.code === "EPIPE" || error.code === "ECONNRESET" ? undefined : reject(error),
    );
    req.end(body);
  });
}
