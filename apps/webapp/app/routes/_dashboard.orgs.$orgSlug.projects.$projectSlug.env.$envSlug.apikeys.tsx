/**
 * API keys: the environment's root secret key (shown on request, rollable), additional keys with
 * scopes (the plaintext is shown once; only its SHA-256 is stored), and the audit log of key changes
 * and of the organisation members' sign-ins.
 */
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { useState } from "react";
import { CopyButton, PageHeader, RelativeTime, Tag, useNow } from "../components/ui";
import { COMMON_SCOPES } from "../components/scopes";
import { CreateApiKeyForm, createApiKey, listApiKeys, revokeApiKey, rollRootKey } from "../services/apiKeys.server";
import { requireEnvironment } from "../services/dashboard.server";
import { listAuditEvents, type AuditRow } from "../services/audit.server";
import { requireUser } from "../services/session.server";

export const meta: MetaFunction = () => [{ title: "API keys · runfeed" }];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  return {
    environment: { slug: environment.slug, type: environment.type },
    rootKey: environment.apiKey,
    keys: await listApiKeys(context.services.prisma, environment.id),
    audit: await listAuditEvents(context.services.prisma, environment),
    now: Date.now(),
  };
}

export async function action({ request, params, context }: ActionFunctionArgs) {
  const { prisma } = context.services;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const actor = { userId: user.id, clientAddress: context.client.address };
  const form = await request.formData();
  switch (form.get("intent")) {
    case "roll-root": {
      if (form.get("confirm") !== environment.slug) {
        return data({ intent: "roll-root", error: `Type "${environment.slug}" to confirm.` } as const, { status: 400 });
      }
      await rollRootKey(context.services, environment, actor);
      return { intent: "roll-root", rolled: true } as const;
    }
    case "create": {
      const extra = String(form.get("customScopes") ?? "")
        .split(/[\s,]+/)
        .filter(Boolean);
      const parsed = CreateApiKeyForm.safeParse({
        name: form.get("name"),
        scopes: [...form.getAll("scopes").map(String), ...extra],
      });
      if (!parsed.success) {
        return data({ intent: "create", error: parsed.error.issues.map((i) => i.message).join(" · ") } as const, {
          status: 400,
        });
      }
      const created = await createApiKey(prisma, environment, parsed.data, actor);
      return { intent: "create", key: created.key, name: parsed.data.name } as const;
    }
    case "revoke": {
      const revoked = await revokeApiKey(context.services, environment.id, String(form.get("id") ?? ""), actor);
      return revoked
        ? ({ intent: "revoke", revoked: true } as const)
        : data({ intent: "revoke", error: "Key not found." } as const, { status: 404 });
    }
    default:
      return data({ intent: "unknown", error: "Unknown action." } as const, { status: 400 });
  }
}

type ActionResult =
  | { intent: "roll-root"; rolled: true }
  | { intent: "create"; key: string; name: string }
  | { intent: "revoke"; revoked: true }
  | { intent: string; error: string };

export default function ApiKeysPage() {
  const { environment, rootKey, keys, audit, now: loadedAt } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>() as ActionResult | undefined;
  const navigation = useNavigation();
  const [revealed, setRevealed] = useState(false);
  const now = useNow(30_000, loadedAt);
  const busy = navigation.state !== "idle";

  return (
    <section className="page">
      <PageHeader
        title="API keys"
        subtitle={`Keys for the ${environment.slug} environment. Servers use them to trigger runs and mint public tokens.`}
      />

      <div className="card">
        <h2>Secret key</h2>
        <p className="muted">
          Full access to this environment. Keep it on your servers; it also signs public access tokens.
        </p>
        <div className="key-row">
          <code className="key" data-testid="root-key">
            {revealed ? rootKey : `${rootKey.slice(0, rootKey.lastIndexOf("_") + 1)}${"•".repeat(24)}`}
          </code>
          <button type="button" className="button button-ghost button-small" onClick={() => setRevealed((r) => !r)}>
            {revealed ? "Hide" : "Show"}
          </button>
          <CopyButton value={rootKey} />
        </div>
        <details className="danger-zone">
          <summary>Roll secret key…</summary>
          <p className="muted">
            A new key replaces this one immediately. Requests with the old key, and public tokens signed with it, stop
            working.
          </p>
          <Form method="post" className="inline-form">
            <input type="hidden" name="intent" value="roll-root" />
            <input
              name="confirm"
              placeholder={`Type "${environment.slug}" to confirm`}
              aria-label="Confirmation"
              required
            />
            <button className="button button-danger" type="submit" disabled={busy}>
              Roll key
            </button>
          </Form>
          {actionData?.intent === "roll-root" && "error" in actionData ? (
            <p className="form-error">{actionData.error}</p>
          ) : null}
        </details>
        {actionData?.intent === "roll-root" && "rolled" in actionData ? (
          <p className="notice">Rolled. The new key is shown above.</p>
        ) : null}
      </div>

      <div className="card">
        <h2>Additional keys</h2>
        <p className="muted">
          Restricted keys with scopes, e.g. a key that may only trigger tasks. Shown once when created.
        </p>

        {actionData?.intent === "create" && "key" in actionData ? (
          <div className="notice notice-key" role="status">
            <p>
              <strong>{actionData.name}</strong> created. Copy it now — it will not be shown again.
            </p>
            <div className="key-row">
              <code className="key" data-testid="new-key">
                {actionData.key}
              </code>
              <CopyButton value={actionData.key} />
            </div>
          </div>
        ) : null}

        <Form method="post" className="create-key">
          <input type="hidden" name="intent" value="create" />
          <label className="field">
            <span>Name</span>
            <input name="name" placeholder="CI deploys" required maxLength={64} />
          </label>
          <fieldset className="scopes">
            <legend>Scopes</legend>
            {COMMON_SCOPES.map((scope) => (
              <label key={scope} className="checkbox">
                <input type="checkbox" name="scopes" value={scope} defaultChecked={scope === "trigger:tasks"} />
                <code>{scope}</code>
              </label>
            ))}
          </fieldset>
          <label className="field">
            <span>More scopes (optional)</span>
            <input name="customScopes" placeholder="read:tags:customer-42 write:runs:run_abc" />
          </label>
          {actionData?.intent === "create" && "error" in actionData ? (
            <p className="form-error">{actionData.error}</p>
          ) : null}
          <button className="button button-primary" type="submit" disabled={busy}>
            Create key
          </button>
        </Form>

        {keys.length ? (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Key</th>
                  <th>Scopes</th>
                  <th>Created</th>
                  <th>Last used</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {keys.map((key) => (
                  <tr key={key.id} className={key.revokedAt ? "revoked" : undefined}>
                    <td>{key.name}</td>
                    <td className="mono">{key.keyPrefix}…</td>
                    <td>
                      <span className="tags">
                        {key.scopes.map((scope) => (
                          <Tag key={scope}>{scope}</Tag>
                        ))}
                      </span>
                    </td>
                    <td className="nowrap">
                      <RelativeTime ms={key.createdAt} now={now} />
                    </td>
                    <td className="nowrap">
                      {key.lastUsedAt ? (
                        <RelativeTime ms={key.lastUsedAt} now={now} />
                      ) : (
                        <span className="muted">never</span>
                      )}
                    </td>
                    <td className="num">
                      {key.revokedAt ? (
                        <span className="muted">revoked</span>
                      ) : (
                        <Form method="post">
                          <input type="hidden" name="intent" value="revoke" />
                          <input type="hidden" name="id" value={key.id} />
                          <button className="button button-ghost button-small" type="submit" disabled={busy}>
                            Revoke
                          </button>
                        </Form>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted">No additional keys yet.</p>
        )}
      </div>

      <AuditLog events={audit} now={now} />
    </section>
  );
}

const AUDIT_LABELS: Record<string, string> = {
  "sign-in": "Signed in",
  "sign-in-failed": "Failed sign-in",
  "sign-out": "Signed out",
  "sign-out-everywhere": "Signed out everywhere",
  "password-changed": "Changed password",
  "api-key-created": "Created key",
  "api-key-revoked": "Revoked key",
  "root-key-rolled": "Rolled secret key",
};

function AuditLog({ events, now }: { events: AuditRow[]; now: number }) {
  return (
    <div className="card">
      <h2>Audit log</h2>
      <p className="muted">
        Key changes in this environment, and sign-ins of this organisation's members, with the client address.
      </p>
      {events.length ? (
        <div className="table-wrap">
          <table className="table" data-testid="audit-log">
            <thead>
              <tr>
                <th>When</th>
                <th>Event</th>
                <th>User</th>
                <th>Address</th>
                <th>Details</th>
              </tr>
            </thead>
            <tbody>
              {events.map((event) => (
                <tr key={event.id} data-action={event.action}>
                  <td className="nowrap">
                    <RelativeTime ms={event.createdAt} now={now} />
                  </td>
                  <td className={event.action === "sign-in-failed" ? "audit-failed" : undefined}>
                    {AUDIT_LABELS[event.action] ?? event.action}
                  </td>
                  <td>{event.email ?? <span className="muted">deleted user</span>}</td>
                  <td className="mono">{event.clientAddress}</td>
                  <td className="mono">
                    {[
                      event.details.name,
                      event.details.keyPrefix && `${event.details.keyPrefix}…`,
                      event.details.scopes,
                    ]
                      .filter(Boolean)
                      .join(" · ")}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted">Nothing recorded yet.</p>
      )}
    </div>
  );
}
