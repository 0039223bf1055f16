/**
 * The API keys page: an environment's additional keys (listed, created with scopes, revoked) and its
 * root key (rolled). Plaintext keys are shown once; only their SHA-256 is stored. Every change is audited.
 */
import { z } from "zod";
import { ADDITIONAL_KEY_REGEX, generateAdditionalKey, generateRootKey, parseScope } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import { auditEventCreate, type AuditActor } from "./audit.server";
import { sha256, type AuthenticatedEnvironment, type Authenticator } from "./auth.server";

export async function listApiKeys(prisma: PrismaClient, environmentId: string) {
  const keys = await prisma.apiKey.findMany({
    where: { runtimeEnvironmentId: environmentId },
    orderBy: [{ revokedAt: { sort: "desc", nulls: "first" } }, { createdAt: "desc" }],
  });
  return keys.map((key) => ({
    id: key.id,
    name: key.name,
    keyPrefix: key.keyPrefix,
    scopes: key.scopes,
    createdAt: key.createdAt.getTime(),
    lastUsedAt: key.lastUsedAt?.getTime() ?? null,
    revokedAt: key.revokedAt?.getTime() ?? null,
  }));
}

export const CreateApiKeyForm = z.object({
  name: z.string().trim().min(1, "Give the key a name").max(64),
  scopes: z
    .array(z.string().trim())
    .transform((scopes) => [...new Set(scopes.filter(Boolean))])
    .refine((scopes) => scopes.length > 0, "Pick at least one scope")
    .refine(
      (scopes) => scopes.every((scope) => parseScope(scope) !== undefined),
      "A scope is not valid (action:type[:id])",
    ),
});

/** Creates an additional key; the plaintext is returned once and only its SHA-256 is stored. Audited. */
export async function createApiKey(
  prisma: PrismaClient,
  environment: Pick<AuthenticatedEnvironment, "id" | "type">,
  input: z.output<typeof CreateApiKeyForm>,
  actor: AuditActor,
): Promise<{ id: string; key: string }> {
  const key = generateAdditionalKey(environment.type);
  if (!ADDITIONAL_KEY_REGEX.test(key)) throw new Error("generated key has the wrong format");
  const keyPrefix = key.slice(0, key.lastIndexOf("_") + 5);
  const [created] = await prisma.$transaction([
    prisma.apiKey.create({
      data: {
        name: input.name,
        keyHash: sha256(key),
        keyPrefix,
        scopes: input.scopes,
        runtimeEnvironmentId: environment.id,
      },
    }),
    auditEventCreate(prisma, {
      action: "api-key-created",
      actor,
      environmentId: environment.id,
      details: { name: input.name, keyPrefix, scopes: input.scopes.join(" ") },
    }),
  ]);
  return { id: created.id, key };
}

/** Revokes an additional key of the environment (false when there is no such unrevoked key). Audited. */
export async function revokeApiKey(
  { prisma, auth }: { prisma: PrismaClient; auth: Authenticator },
  environmentId: string,
  id: string,
  actor: AuditActor,
): Promise<boolean> {
  const revoked = await prisma.$transaction(async (tx) => {
    const key = await tx.apiKey.findFirst({ where: { id, runtimeEnvironmentId: environmentId, revokedAt: null } });
    if (!key) return false;
    await tx.apiKey.update({ where: { id: key.id }, data: { revokedAt: new Date() } });
    await auditEventCreate(tx, {
      action: "api-key-revoked",
      actor,
      environmentId,
      details: { name: key.name, keyPrefix: key.keyPrefix },
    });
    return true;
  });
  // This instance stops accepting it at once; others within the auth cache's few seconds.
  auth.forgetKeys();
  return revoked;
}

/**
 * A new root secret key. The old one stops working (at once on this instance, within the auth
 * cache's few seconds on others), and so do public tokens signed with it (HS256 over the root key).
 * Audited.
 */
export async function rollRootKey(
  { prisma, auth }: { prisma: PrismaClient; auth: Authenticator },
  environment: Pick<AuthenticatedEnvironment, "id" | "type">,
  actor: AuditActor,
): Promise<string> {
  const apiKey = generateRootKey(environment.type);
  await prisma.$transaction([
    prisma.runtimeEnvironment.update({ where: { id: environment.id }, data: { apiKey } }),
    auditEventCreate(prisma, { action: "root-key-rolled", actor, environmentId: environment.id }),
  ]);
  auth.forgetKeys();
  return apiKey;
}
