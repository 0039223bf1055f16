/**
 * Password checks behind the sign-in throttle (per account and per client address), and the sign-in
 * form's action: validate, check, record the outcome in the audit log, open a session. An unknown
 * email and a wrong password get the same answer after the same work (one scrypt, one audit row, the
 * same throttle windows).
 */
import { data, type AppLoadContext, type HeadersFunction } from "@remix-run/node";
import type { User } from "@runfeed/database";
import { z } from "zod";
import { recordAudit } from "./audit.server";
import { safeRedirect } from "./redirects.server";
import { startSession } from "./session.server";
import { MAX_PASSWORD_LENGTH, authenticateUser, normalizeEmail } from "./users.server";

export type PasswordCheck =
  | { ok: true; user: User }
  | { ok: false; status: 401 | 429 | 503; error: string; headers?: Record<string, string>; knownUser?: User };

/** Email and password checked once the throttle allows an attempt; a success does not count as one. */
export async function checkPassword(context: AppLoadContext, email: string, password: string): Promise<PasswordCheck> {
  const { services, client } = context;
  const account = normalizeEmail(email);
  let attempt: Awaited<ReturnType<typeof services.signInThrottle.attempt>>;
  try {
    attempt = await services.signInThrottle.attempt(account, client.address);
  } catch (error) {
    // Without the throttle every guess would be free: password checks wait for Redis (ADR 080).
    services.logger.error({ err: (error as Error).message }, "sign-in throttle unavailable");
    const error503 = "Sign-in is unavailable for a moment. Try again shortly.";
    return { ok: false, status: 503, error: error503, headers: { "retry-after": "5" } };
  }
  if (!attempt.allowed) {
    services.logger.warn({ clientAddress: client.address }, "sign-in throttled");
    return {
      ok: false,
      status: 429,
      error: `Too many failed sign-ins. Try again in ${waitText(attempt.retryAfterSeconds)}.`,
      headers: { "retry-after": String(attempt.retryAfterSeconds) },
    };
  }
  const { user, knownUser } = await authenticateUser(services.prisma, account, password);
  if (!user) return { ok: false, status: 401, error: "That email and password do not match.", knownUser };
  await attempt.succeeded();
  return { ok: true, user };
}

/** A route's `headers`: a document answer to a throttled attempt carries the action's retry-after. */
export const retryAfterHeaders: HeadersFunction = ({ actionHeaders }) => {
  const retryAfter = actionHeaders.get("retry-after");
  return retryAfter ? { "retry-after": retryAfter } : new Headers();
};

export const SignInForm = z.object({
  email: z.string().trim().min(1, "Enter your email and password.").max(320, "That email is too long."),
  password: z.string().min(1, "Enter your email and password.").max(MAX_PASSWORD_LENGTH, "That password is too long."),
  redirectTo: z.string().optional(),
});

export type SignInFailure = { error: string };

export async function signIn(context: AppLoadContext, request: Request) {
  const { services, client } = context;
  const form = await request.formData();
  const parsed = SignInForm.safeParse({
    email: form.get("email") ?? "",
    password: form.get("password") ?? "",
    redirectTo: form.get("redirectTo") ?? undefined,
  });
  if (!parsed.success) return data<SignInFailure>({ error: parsed.error.issues[0]!.message }, { status: 400 });
  const check = await checkPassword(context, parsed.data.email, parsed.data.password);
  if (!check.ok) {
    if (check.status === 401) {
      const actor = { userId: check.knownUser?.id, clientAddress: client.address };
      await recordAudit(services.prisma, { action: "sign-in-failed", actor });
    }
    return data<SignInFailure>({ error: check.error }, { status: check.status, headers: check.headers });
  }
  await recordAudit(services.prisma, {
    action: "sign-in",
    actor: { userId: check.user.id, clientAddress: client.address },
  });
  return startSession(context, request, check.user.id, safeRedirect(parsed.data.redirectTo, client.origin));
}

function waitText(seconds: number): string {
  if (seconds < 60) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minute${minutes === 1 ? "" : "s"}`;
}
