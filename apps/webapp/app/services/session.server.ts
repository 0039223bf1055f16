/**
 * Dashboard sessions, kept server-side in the "Session" table (docs/decisions/080-dashboard-security.md).
 * The cookie holds a random 256-bit token, signed with SESSION_SECRET; the table holds only the
 * token's SHA-256. A session ends when it is signed out, when its user signs out everywhere or changes
 * password, after SESSION_IDLE_TIMEOUT_MS without a request, and SESSION_MAX_AGE_MS after sign-in.
 * Guards are `require*` functions that throw a redirect, so loaders read top-down (style.md).
 */
import { createHash, randomBytes } from "node:crypto";
import { createCookie, redirect, type AppLoadContext, type Cookie } from "@remix-run/node";
import type { Session, User } from "@runfeed/database";
import type { WebappEnv } from "../env.server";
import { recordAudit, type AuditAction } from "./audit.server";

export const SESSION_COOKIE = "__runfeed_session";
/** lastSeenAt is written at most this often per session (the idle timeout is kept to this precision). */
const TOUCH_INTERVAL_MS = 60_000;
const USER_AGENT_MAX = 256;

/** The session cookie of one app instance (Services.sessionCookie), signed with its SESSION_SECRET. */
export function createSessionCookie(env: Pick<WebappEnv, "SESSION_SECRET">): Cookie {
  return createCookie(SESSION_COOKIE, { httpOnly: true, sameSite: "lax", path: "/", secrets: [env.SESSION_SECRET] });
}

const hashToken = (token: string) => createHash("sha256").update(token).digest("hex");

async function cookieToken(context: AppLoadContext, request: Request): Promise<string | undefined> {
  const token: unknown = await context.services.sessionCookie.parse(request.headers.get("cookie"));
  return typeof token === "string" && token.length > 0 ? token : undefined;
}

export interface CurrentSession {
  session: Session;
  user: User;
}

/** The request's live session and its user, or undefined (an expired one is deleted on the way). */
export async function getCurrentSession(
  context: AppLoadContext,
  request: Request,
): Promise<CurrentSession | undefined> {
  const token = await cookieToken(context, request);
  if (!token) return undefined;
  const { prisma, env } = context.services;
  const id = hashToken(token);
  const found = await prisma.session.findUnique({ where: { id }, include: { user: true } });
  if (!found) return undefined;
  const now = Date.now();
  const { user, ...session } = found;
  if (session.expiresAt.getTime() <= now || session.lastSeenAt.getTime() + env.SESSION_IDLE_TIMEOUT_MS <= now) {
    await prisma.session.deleteMany({ where: { id } });
    return undefined;
  }
  if (now - session.lastSeenAt.getTime() >= TOUCH_INTERVAL_MS) {
    await prisma.session.updateMany({ where: { id }, data: { lastSeenAt: new Date(now) } });
  }
  return { session, user };
}

/** The signed-in user's session, or a redirect to /login (remembering where they were going). */
export async function requireSession(context: AppLoadContext, request: Request): Promise<CurrentSession> {
  const current = await getCurrentSession(context, request);
  if (!current) {
    const url = new URL(request.url);
    const redirectTo = `${url.pathname}${url.search}`;
    const hadCookie = (await cookieToken(context, request)) !== undefined;
    throw redirect(`/login?redirectTo=${encodeURIComponent(redirectTo)}`, {
      headers: hadCookie ? { "set-cookie": await clearCookie(context) } : undefined,
    });
  }
  return current;
}

export async function requireUser(context: AppLoadContext, request: Request): Promise<User> {
  return (await requireSession(context, request)).user;
}

/** Opens a session for the user; the answer is the redirect that sets its cookie. */
export async function startSession(
  context: AppLoadContext,
  request: Request,
  userId: string,
  redirectTo: string,
): Promise<Response> {
  const { prisma, env } = context.services;
  const token = randomBytes(32).toString("base64url");
  const now = Date.now();
  const expiresAt = new Date(now + env.SESSION_MAX_AGE_MS);
  await prisma.$transaction([
    // Housekeeping: the user's ended sessions go when a new one starts.
    prisma.session.deleteMany({
      where: {
        userId,
        OR: [
          { expiresAt: { lte: new Date(now) } },
          { lastSeenAt: { lte: new Date(now - env.SESSION_IDLE_TIMEOUT_MS) } },
        ],
      },
    }),
    prisma.session.create({
      data: {
        id: hashToken(token),
        userId,
        createdAt: new Date(now),
        lastSeenAt: new Date(now),
        expiresAt,
        clientAddress: context.client.address,
        userAgent: request.headers.get("user-agent")?.slice(0, USER_AGENT_MAX) ?? null,
      },
    }),
  ]);
  const cookie = await context.services.sessionCookie.serialize(token, {
    expires: expiresAt,
    secure: context.client.secure,
  });
  return redirect(redirectTo, { headers: { "set-cookie": cookie } });
}

/** Signs this browser out: its session row is deleted, so the cookie opens nothing even if replayed. */
export async function endSession(context: AppLoadContext, request: Request): Promise<Response> {
  const current = await getCurrentSession(context, request);
  if (current) {
    await context.services.prisma.session.deleteMany({ where: { id: current.session.id } });
    await audit(context, "sign-out", current.user.id);
  }
  return redirect("/login", { headers: { "set-cookie": await clearCookie(context) } });
}

/** Signs the user out on every browser, this one included. */
export async function endAllSessions(context: AppLoadContext, userId: string): Promise<Response> {
  await context.services.prisma.session.deleteMany({ where: { userId } });
  await audit(context, "sign-out-everywhere", userId);
  return redirect("/login", { headers: { "set-cookie": await clearCookie(context) } });
}

/** The user's open sessions, newest activity first; `current` marks the one making this request. */
export async function listSessions(context: AppLoadContext, current: CurrentSession) {
  const { env, prisma } = context.services;
  const now = Date.now();
  const sessions = await prisma.session.findMany({
    where: {
      userId: current.user.id,
      expiresAt: { gt: new Date(now) },
      lastSeenAt: { gt: new Date(now - env.SESSION_IDLE_TIMEOUT_MS) },
    },
    orderBy: { lastSeenAt: "desc" },
  });
  return sessions.map((session) => ({
    /** A short prefix of the token's hash: a stable key for the list, and nothing to sign in with. */
    key: session.id.slice(0, 16),
    current: session.id === current.session.id,
    createdAt: session.createdAt.getTime(),
    lastSeenAt: session.lastSeenAt.getTime(),
    expiresAt: session.expiresAt.getTime(),
    clientAddress: session.clientAddress,
    userAgent: session.userAgent,
  }));
}

function clearCookie(context: AppLoadContext): Promise<string> {
  return context.services.sessionCookie.serialize("", { expires: new Date(0), secure: context.client.secure });
}

function audit(context: AppLoadContext, action: AuditAction, userId: string) {
  return recordAudit(context.services.prisma, { action, actor: { userId, clientAddress: context.client.address } });
}
