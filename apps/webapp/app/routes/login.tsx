import {
  data,
  redirect,
  type ActionFunctionArgs,
  type LinksFunction,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Form, useActionData, useNavigation, useSearchParams } from "@remix-run/react";
import stylesheet from "../styles/app.css?url";
import { authenticateUser, createUserSession, getUserId, safeRedirect } from "../services/session.server";

export const links: LinksFunction = () => [{ rel: "stylesheet", href: stylesheet }];
export const meta: MetaFunction = () => [{ title: "Sign in · runfeed" }];

export async function loader({ request, context }: LoaderFunctionArgs) {
  if (await getUserId(context.services, request)) {
    const url = new URL(request.url);
    // A stale cookie of a deleted user is handled by requireUser on the target page.
    return redirect(safeRedirect(url.searchParams.get("redirectTo")));
  }
  return null;
}

export async function action({ request, context }: ActionFunctionArgs) {
  const form = await request.formData();
  const email = String(form.get("email") ?? "");
  const password = String(form.get("password") ?? "");
  const redirectTo = safeRedirect(String(form.get("redirectTo") ?? "/"));
  if (!email || !password) return data({ error: "Enter your email and password." }, { status: 400 });
  const user = await authenticateUser(context.services.prisma, email, password);
  if (!user) return data({ error: "That email and password do not match." }, { status: 401 });
  return createUserSession(context.services, request, user.id, redirectTo);
}

export default function Login() {
  const actionData = useActionData<typeof action>() as { error?: string } | undefined;
  const [searchParams] = useSearchParams();
  const navigation = useNavigation();
  return (
    <main className="login">
      <div className="login-card">
        <div className="brand brand-large">
          <span className="brand-mark" aria-hidden>
            ▲
          </span>
          runfeed
        </div>
        <p className="muted">Sign in to watch your runs live.</p>
        <Form method="post" className="stack">
          <input type="hidden" name="redirectTo" value={searchParams.get("redirectTo") ?? "/"} />
          <label className="field">
            <span>Email</span>
            <input name="email" type="email" autoComplete="username" defaultValue="demo@runfeed.dev" required />
          </label>
          <label className="field">
            <span>Password</span>
            <input name="password" type="password" autoComplete="current-password" required autoFocus />
          </label>
          {actionData?.error ? (
            <p className="form-error" role="alert">
              {actionData.error}
            </p>
          ) : null}
          <button className="button button-primary" type="submit" disabled={navigation.state !== "idle"}>
            {navigation.state !== "idle" ? "Signing in…" : "Sign in"}
          </button>
        </Form>
        <p className="hint">
          The demo user's password is printed by <code>pnpm start</code>.
        </p>
      </div>
    </main>
  );
}
