/**
 * Dashboard sign-in: users with scrypt password hashes, and a cookie session signed with
 * SESSION_SECRET (Remix `createCookieSessionStorage`). Guards are `require*` functions that throw
 * a redirect, so loaders read top-down (style.md, Epic Stack).
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from "node:crypto";
import { promisify } from "node:util";
import { createCookieSessionStorage, redirect, type SessionStorage } from "@remix-run/node";
import { randomString } from "@runfeed/core";
import type { PrismaClient, User } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import type { Services } from "./services.server";

const scrypt = promisify(scryptCallback) as (password: string, salt: Buffer, keylen: number) => Promise<Buffer>;
const KEY_LENGTH = 32;
const USER_ID_KEY = "userId";

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

// One storage per parsed env (not a module singleton: tests run several webapps side by side).
const storages = new WeakMap<WebappEnv, SessionStorage>();

export function sessionStorage(env: WebappEnv): SessionStorage {
  let storage = storages.get(env);
  if (!storage) {
    storage = createCookieSessionStorage({
      cookie: {
        name: "__runfeed_session",
        httpOnly: true,
        sameSite: "lax",
        path: "/",
        secrets: [env.SESSION_SECRET],
        secure: env.NODE_ENV === "production" && (env.APP_ORIGIN ?? "").startsWith("https:"),
        maxAge: 60 * 60 * 24 * 14,
      },
    });
    storages.set(env, storage);
  }
  return storage;
}

export async function getUserId(services: Services, request: Request): Promise<string | undefined> {
  const session = await sessionStorage(services.env).getSession(request.headers.get("cookie"));
  const userId = session.get(USER_ID_KEY);
  return typeof userId === "string" ? userId : undefined;
}

/** The signed-in user, or a redirect to /login (remembering where they were going). */
export async function requireUser(services: Services, request: Request): Promise<User> {
  const userId = await getUserId(services, request);
  const user = userId ? await services.prisma.user.findUnique({ where: { id: userId } }) : null;
  if (!user) {
    const url = new URL(request.url);
    const redirectTo = `${url.pathname}${url.search}`;
    throw redirect(`/login?redirectTo=${encodeURIComponent(redirectTo)}`, {
      headers: userId ? { "set-cookie": await destroyCookie(services, request) } : undefined,
    });
  }
  return user;
}

export async function authenticateUser(
  prisma: PrismaClient,
  email: string,
  password: string,
): Promise<User | undefined> {
  const user = await prisma.user.findUnique({ where: { email: email.trim().toLowerCase() } });
  if (!user) {
    // Spend the same time as a real check so unknown emails are not distinguishable by timing.
    await hashPassword(password);
    return undefined;
  }
  return (await verifyPassword(password, user.passwordHash)) ? user : undefined;
}

export async function createUserSession(services: Services, request: Request, userId: string, redirectTo: string) {
  const storage = sessionStorage(services.env);
  const session = await storage.getSession(request.headers.get("cookie"));
  session.set(USER_ID_KEY, userId);
  return redirect(safeRedirect(redirectTo), { headers: { "set-cookie": await storage.commitSession(session) } });
}

async function destroyCookie(services: Services, request: Request) {
  const storage = sessionStorage(services.env);
  return storage.destroySession(await storage.getSession(request.headers.get("cookie")));
}

export async function logout(services: Services, request: Request) {
  return redirect("/login", { headers: { "set-cookie": await destroyCookie(services, request) } });
}

/** Only same-site paths; anything else goes to the dashboard root. */
export function safeRedirect(to: string | null | undefined, fallback = "/"): string {
  if (!to || typeof to !== "string" || !to.startsWith("/") || to.startsWith("//")) return fallback;
  return to;
}

export interface DemoUser {
  email: string;
  password: string;
}

/**
 * Creates (or resets the password of) the demo user and makes it a member of the given
 * organisations (default: the `demo` organisation of seedDemo). Returns the credentials to print;
 * the password is new on every call unless one is given.
 */
export async function seedDemoUser(
  prisma: PrismaClient,
  options: { organizationIds?: string[]; email?: string; password?: string; name?: string } = {},
): Promise<DemoUser> {
  const email = (options.email ?? "demo@runfeed.dev").toLowerCase();
  const password = options.password ?? `demo-${randomString(12)}`;
  const passwordHash = await hashPassword(password);
  const user = await prisma.user.upsert({
    where: { email },
    update: { passwordHash },
    create: { email, name: options.name ?? "Demo user", passwordHash },
  });
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
