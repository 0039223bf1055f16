/**
 * Schedules: the environment's cron schedules (created through POST /api/v1/schedules), with their
 * time zone, next and last tick (docs/decisions/093-run-lifecycle-timers.md).
 */
import type { LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { useLoaderData } from "@remix-run/react";
import { PageHeader, RelativeTime, Tag, useNow } from "../components/ui";
import { listSchedules } from "../engine/schedules.server";
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

export default function Schedules() {
  const { schedules, count, now: initialNow } = useLoaderData<typeof loader>();
  const now = useNow(1000, initialNow);
  return (
    <>
      <PageHeader
        title="Schedules"
        subtitle={`${count} cron schedule${count === 1 ? "" : "s"}: each tick triggers one run of its task.`}
      />
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
