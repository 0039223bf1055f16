/**
 * Dashboard users: scrypt password hashes, checking a password (in the same time whether or not the
 * email exists), changing it, and the demo user `pnpm start` seeds.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { randomString } from "@runfeed/core";
import type { PrismaClient, User } from "@runfeed/database";
import { z } from "zod";

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const KEY_LENGTH = 32;

/** Longest password accepted anywhere (scrypt of a megabyte is work an attacker should not get for free). */
export const MAX_PASSWORD_LENGTH = 1024;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH);
  return `scrypt$${salt.toString("base64")}$${hash.toString("base64")}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = await scrypt(password, Buffer.from(salt, "base64"), expected.length);
  return timingSafeEqual(actual, expected);
}

/** Checked instead of a real hash when the email is unknown, so both cases cost one scrypt and one compare. */
let dummyHash: Promise<string> | undefined;

export const normalizeEmail = (email: string) => email.trim().toLowerCase();

/**
 * `user`: the user whose email and password these are, else undefined (after the same work either way);
 * `knownUser`: the user the email belongs to, matching password or not (for the audit log).
 */
export async function authenticateUser(
  prisma: PrismaClient,
  email: string,
  password: string,
): Promise<{ user: User | undefined; knownUser: User | undefined }> {
  const user = await prisma.user.findUnique({ where: { email: normalizeEmail(email) } });
  dummyHash ??= hashPassword(randomString(24));
  const matches = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  return { user: user && matches ? user : undefined, knownUser: user ?? undefined };
}

export const NewPasswordForm = z
  .object({
    currentPassword: z.string().min(1, "Enter your current password.").max(MAX_PASSWORD_LENGTH),
    newPassword: z
      .string()
      .min(12, "The new password needs at least 12 characters.")
      .max(MAX_PASSWORD_LENGTH, `The new password may have at most ${MAX_PASSWORD_LENGTH} characters.`),
    confirmPassword: z.string(),
  })
  .refine((form) => form.newPassword === form.confirmPassword, {
    message: "The two new passwords differ.",
    path: ["confirmPassword"],
  });

/** A new password ends every session of the user, in the same transaction. */
export async function setPassword(prisma: PrismaClient, userId: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  await prisma.$transaction([
    prisma.user.update({ where: { id: userId }, data: { passwordHash } }),
    prisma.session.deleteMany({ where: { userId } }),
  ]);
}

export interface DemoUser {
  email: string;
  password: string;
}

/**
 * Creates (or resets the password of) the demo user and makes it a member of the given
 * organisations (default: the `demo` organisation of seedDemo). Returns the credentials to print;
 * the password is new on every call unless one is given, and the user's sessions end.
 */
export async function seedDemoUser(
  prisma: PrismaClient,
  options: { organizationIds?: string[]; email?: string; password?: string; name?: string } = {},
): Promise<DemoUser> {
  const email = normalizeEmail(options.email ?? "demo@runfeed.dev");
  const password = options.password ?? `demo-${randomString(12)}`;
  const passwordHash = await hashPassword(password);
  const user = await prisma.user.upsert({
    where: { email },
    update: { passwordHash },
    create: { email, name: options.name ?? "Demo user", passwordHash },
  });
  // A new password ends the sessions opened with the old one.
  await prisma.session.deleteMany({ where: { userId: user.id } });
  const organizationIds =
    options.organizationIds ??
    (await prisma.organization.findMany({ where: { slug: "demo" }, select: { id: true } })).map((o) => o.id);
  for (const organizationId of organizationIds) {
    await prisma.orgMember.upsert({
      where: { userId_organizationId: { userId: user.id, organizationId } },
      update: {},
      create: { userId: user.id, organizationId },
    });
  }
  return { email, password };
}
