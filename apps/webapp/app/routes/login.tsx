import {
  redirect,
  type ActionFunctionArgs,
  type LinksFunction,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation, useSearchParams } from "@remix-run/react";
import stylesheet from "../styles/app.css?url";
import { safeRedirect } from "../services/redirects.server";
import { getCurrentSession } from "../services/session.server";
import { retryAfterHeaders, signIn, type SignInFailure } from "../services/signIn.server";

export const links: LinksFunction = () => [{ rel: "stylesheet", href: stylesheet }];
export const meta: MetaFunction = () => [{ title: "Sign in · runfeed" }];
export const headers = retryAfterHeaders;

export async function loader({ request, context }: LoaderFunctionArgs) {
  if (await getCurrentSession(context, request)) {
    const url = new URL(request.url);
    return redirect(safeRedirect(url.searchParams.get("redirectTo"), context.client.origin));
  }
  // Seeded demo mode only (DEMO_SIGN_IN_EMAIL, set by `pnpm start`): pre-fill the demo user.
  return { demoEmail: context.services.env.DEMO_SIGN_IN_EMAIL ?? null };
}

export const action = ({ request, context }: ActionFunctionArgs) => signIn(context, request);

export default function Login() {
  const { demoEmail } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>() as SignInFailure | undefined;
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
            <input
              name="email"
              type="email"
              autoComplete="username"
              defaultValue={demoEmail ?? undefined}
              required
              autoFocus={!demoEmail}
            />
          </label>
          <label className="field">
            <span>Password</span>
            <input name="password" type="password" autoComplete="current-password" required autoFocus={!!demoEmail} />
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
        {demoEmail ? (
          <p className="hint">
            The demo user's password is printed by <code>pnpm start</code>.
          </p>
        ) : null}
      </div>
    </main>
  );
}
