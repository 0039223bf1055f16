/**
 * Schedules: the environment's cron schedules (created through POST /api/v1/schedules), with their
 * time zone, next and last tick (docs/decisions/093-run-lifecycle-timers.md); each can be deactivated,
 * activated again or deleted here, as through the API.
 */
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, useActionData, useLoaderData, useNavigation } from "@remix-run/react";
import { PageHeader, RelativeTime, Tag, useNow } from "../components/ui";
import { deleteSchedule, findSchedule, listSchedules, setScheduleActive } from "../engine/schedules.server";
import { requireEnvironment } from "../services/dashboard.server";
import { requireUser } from "../services/session.server";

export const meta: MetaFunction = () => [{ title: "Schedules · runfeed" }];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const { schedules, count } = await listSchedules(context.services.prisma, environment.id, { page: 1, perPage: 100 });
  return {
    count,
    schedules: schedules.map((s) => ({
      id: s.friendlyId,
      task: s.taskIdentifier,
      cron: s.cron,
      timezone: s.timezone,
      externalId: s.externalId,
      active: s.active,
      nextRunAt: s.nextRunAt?.getTime() ?? null,
      lastRunAt: s.lastRunAt?.getTime() ?? null,
    })),
    now: Date.now(),
  };
}

export async function action({ request, params, context }: ActionFunctionArgs) {
  const { prisma } = context.services;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const form = await request.formData();
  const schedule = await findSchedule(prisma, environment.id, String(form.get("id") ?? ""));
  if (!schedule) return data({ error: "Schedule not found." }, { status: 404 });
  switch (form.get("intent")) {
    case "activate":
    case "deactivate":
      await setScheduleActive(prisma, schedule, form.get("intent") === "activate");
      return { error: null };
    case "delete":
      await deleteSchedule(prisma, schedule);
      return { error: null };
    default:
      return data({ error: "Unknown action." }, { status: 400 });
  }
}

export default function Schedules() {
  const { schedules, count, now: initialNow } = useLoaderData<typeof loader>();
  const actionData = useActionData<typeof action>() as { error: string | null } | undefined;
  const busy = useNavigation().state !== "idle";
  const now = useNow(1000, initialNow);
  return (
    <>
      <PageHeader
        title="Schedules"
        subtitle={`${count} cron schedule${count === 1 ? "" : "s"}: each tick triggers one run of its task.`}
      />
      {actionData?.error ? (
        <p className="form-error" role="alert">
          {actionData.error}
        </p>
      ) : null}
      {schedules.length ? (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th>ID</th>
                <th>Task</th>
                <th>Cron</th>
                <th>Time zone</th>
                <th>Next run</th>
                <th>Last run</th>
                <th>Status</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {schedules.map((s) => (
                <tr key={s.id}>
                  <td className="mono">{s.id}</td>
                  <td>{s.task}</td>
                  <td className="mono">{s.cron}</td>
                  <td>{s.timezone}</td>
                  <td className="nowrap">{s.nextRunAt ? <RelativeTime ms={s.nextRunAt} now={now} /> : "–"}</td>
                  <td className="nowrap">{s.lastRunAt ? <RelativeTime ms={s.lastRunAt} now={now} /> : "–"}</td>
                  <td>
                    <Tag>{s.active ? "active" : "inactive"}</Tag>
                  </td>
                  <td className="num nowrap">
                    <Form method="post" className="inline-form">
                      <input type="hidden" name="id" value={s.id} />
                      <button
                        className="button button-ghost button-small"
                        type="submit"
                        name="intent"
                        value={s.active ? "deactivate" : "activate"}
                        disabled={busy}
                      >
                        {s.active ? "Deactivate" : "Activate"}
                      </button>
                      <button
                        className="button button-ghost button-small"
                        type="submit"
                        name="intent"
                        value="delete"
                        disabled={busy}
                        onClick={(event) => {
                          if (!window.confirm(`Delete schedule ${s.id}? Its runs stay.`)) event.preventDefault();
                        }}
                      >
                        Delete
                      </button>
                    </Form>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted">
          No schedules yet. Create one with <code>schedules.create</code> of the SDK (POST /api/v1/schedules).
        </p>
      )}
    </>
  );
}
