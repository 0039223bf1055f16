/**
 * The signed-in user's account: open sessions, "sign out everywhere", and a password change (which
 * also ends every session; this browser gets a fresh one).
 */
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation, useSearchParams } from "@remix-run/react";
import { PageHeader, RelativeTime, useNow } from "../components/ui";
import { recordAudit } from "../services/audit.server";
import { endAllSessions, listSessions, requireSession, startSession } from "../services/session.server";
import { checkPassword, retryAfterHeaders } from "../services/signIn.server";
import { NewPasswordForm, setPassword } from "../services/users.server";

export const meta: MetaFunction = () => [{ title: "Account · runfeed" }];
export const headers = retryAfterHeaders;

export async function loader({ request, context }: LoaderFunctionArgs) {
  const current = await requireSession(context, request);
  return { sessions: await listSessions(context, current), now: Date.now() };
}

type ActionResult = { error: string };

export async function action({ request, context }: ActionFunctionArgs) {
  const { user } = await requireSession(context, request);
  const { services, client } = context;
  const form = await request.formData();
  switch (form.get("intent")) {
    case "sign-out-everywhere":
      return endAllSessions(context, user.id);
    case "change-password": {
      const parsed = NewPasswordForm.safeParse(Object.fromEntries(form));
      if (!parsed.success) return data<ActionResult>({ error: parsed.error.issues[0]!.message }, { status: 400 });
      // Guessing the current password from a stolen session is throttled like signing in.
      const check = await checkPassword(context, user.email, parsed.data.currentPassword);
      if (!check.ok) {
        const error = check.status === 401 ? "The current password is wrong." : check.error;
        return data<ActionResult>({ error }, { status: check.status, headers: check.headers });
      }
      await setPassword(services.prisma, user.id, parsed.data.newPassword);
      await recordAudit(services.prisma, {
        action: "password-changed",
        actor: { userId: user.id, clientAddress: client.address },
      });
      return startSession(context, request, user.id, "/account?password=changed");
    }
    default:
      return data<ActionResult>({ error: "Unknown action." }, { status: 400 });
  }
}

export default function AccountPage() {
  const { sessions, now: loadedAt } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>() as ActionResult | undefined;
  const navigation = useNavigation();
  const now = useNow(30_000, loadedAt);
  const busy = navigation.state !== "idle";
  const [searchParams] = useSearchParams();
  const changed = searchParams.get("password") === "changed";

  return (
    <section className="page">
      <PageHeader title="Account" subtitle="Where you are signed in, and your password." />

      <div className="card">
        <h2>Sessions</h2>
        <p className="muted">
          Every browser signed in as you. Signing out everywhere ends all of them, this one included.
        </p>
        <div className="table-wrap">
          <table className="table" data-testid="sessions">
            <thead>
              <tr>
                <th>Browser</th>
                <th>Address</th>
                <th>Signed in</th>
                <th>Last active</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((session) => (
                <tr key={session.key}>
                  <td>
                    {session.userAgent ?? <span className="muted">unknown</span>}
                    {session.current ? <span className="tag tag-current">this browser</span> : null}
                  </td>
                  <td className="mono">{session.clientAddress}</td>
                  <td className="nowrap">
                    <RelativeTime ms={session.createdAt} now={now} />
                  </td>
                  <td className="nowrap">
                    <RelativeTime ms={session.lastSeenAt} now={now} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <Form method="post" className="inline-form account-actions">
          <input type="hidden" name="intent" value="sign-out-everywhere" />
          <button className="button button-danger" type="submit" disabled={busy}>
            Sign out everywhere
          </button>
        </Form>
      </div>

      <div className="card">
        <h2>Password</h2>
        <p className="muted">A new password signs you out on every other browser.</p>
        {changed && !actionData ? (
          <p className="notice" role="status">
            Password changed. Other browsers are signed out.
          </p>
        ) : null}
        <Form method="post" className="stack password-form">
          <input type="hidden" name="intent" value="change-password" />
          <label className="field">
            <span>Current password</span>
            <input name="currentPassword" type="password" autoComplete="current-password" required />
          </label>
          <label className="field">
            <span>New password</span>
            <input name="newPassword" type="password" autoComplete="new-password" minLength={12} required />
          </label>
          <label className="field">
            <span>New password, again</span>
            <input name="confirmPassword" type="password" autoComplete="new-password" minLength={12} required />
          </label>
          {actionData?.error ? (
            <p className="form-error" role="alert">
              {actionData.error}
            </p>
          ) : null}
          <button className="button button-primary" type="submit" disabled={busy}>
            Change password
          </button>
        </Form>
      </div>
    </section>
  );
}
