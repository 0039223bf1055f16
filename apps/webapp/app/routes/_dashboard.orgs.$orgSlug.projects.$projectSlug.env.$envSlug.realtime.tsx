/**
 * Realtime: live requests held right now per environment of the project (from the limiter, across
 * all webapp instances) against each limit, the backend serving the organisation's run feeds (its
 * own choice or REALTIME_BACKEND; docs/decisions/073-realtime-notifier-backend.md), and the shape
 * server's health and metrics.
 */
import type { ActionFunctionArgs, LoaderFunctionArgs, MetaFunction } from "@remix-run/node";
import { Form, useLoaderData, useParams, useRevalidator } from "@remix-run/react";
import { useEffect } from "react";
import { PageHeader, ProgressBar } from "../components/ui";
import { WritePipelinePanel } from "../components/WritePipelinePanel";
import { requireEnvironment } from "../services/dashboard.server";
import { shapeServerHealth } from "../services/shapeServerHealth.server";
import { realtimeUsage } from "../services/realtime/realtimeServices.server";
import { requireUser } from "../services/session.server";
import { RealtimeBackendName } from "../services/realtime/backendSelection.server";

export const meta: MetaFunction = () => [{ title: "Realtime · runfeed" }];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const environments = await services.prisma.runtimeEnvironment.findMany({
    where: { projectId: environment.projectId, archivedAt: null },
    orderBy: { createdAt: "asc" },
    select: { id: true, slug: true, type: true, realtimeConcurrencyLimit: true },
  });
  const [usage, health] = await Promise.all([
    realtimeUsage(
      services,
      environments.map((e) => e.id),
    ).catch(() => undefined),
    shapeServerHealth(services.env.ELECTRIC_ORIGIN),
  ]);
  return {
    currentId: environment.id,
    backend: {
      default: services.realtime.backends.defaultBackend,
      override: RealtimeBackendName.safeParse(environment.organization.realtimeBackend).data ?? null,
    },
    environments: environments.map((e) => ({
      slug: e.slug,
      type: e.type,
      current: e.id === environment.id,
      inUse: usage?.[e.id] ?? null,
      limit: e.realtimeConcurrencyLimit ?? services.env.REALTIME_DEFAULT_CONCURRENCY_LIMIT,
    })),
    health,
    checkedAt: Date.now(),
  };
}

/** Sets or clears the organisation's realtime backend. */
export async function action({ request, params, context }: ActionFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const chosen = String((await request.formData()).get("backend") ?? "");
  const parsed = chosen === "default" ? { success: true as const, data: null } : RealtimeBackendName.safeParse(chosen);
  if (!parsed.success) return Response.json({ error: `Unknown realtime backend "${chosen}".` }, { status: 400 });
  await services.realtime.backends.setOverride(environment.organization.id, parsed.data);
  return { backend: parsed.data };
}

export default function RealtimePage() {
  const { environments, health, backend } = useLoaderData<typeof loader>();
  const revalidator = useRevalidator();
  useEffect(() => {
    const timer = setInterval(() => {
      if (revalidator.state === "idle" && document.visibilityState === "visible") revalidator.revalidate();
    }, 5000);
    return () => clearInterval(timer);
  }, [revalidator]);
  const healthy = health.status === "active";
  const { orgSlug, projectSlug, envSlug } = useParams();

  return (
    <section className="page">
      <PageHeader
        title="Realtime"
        subtitle="Live subscriptions held open right now, and the shape server behind them. Refreshes every 5 s."
      />

      <div className="card">
        <h2>Concurrent live requests</h2>
        <p className="muted">
          Long-polls holding a slot in the limiter, across every webapp instance. New live requests beyond the limit get
          429.
        </p>
        <div className="usage-list">
          {environments.map((environment) => (
            <div
              key={environment.slug}
              className={environment.current ? "usage usage-current" : "usage"}
              data-env={environment.slug}
            >
              <div className="usage-head">
                <strong>{environment.slug}</strong>
                <span className="mono" data-testid={`usage-${environment.slug}`}>
                  {`${environment.inUse ?? "?"} / ${environment.limit.toLocaleString("en-US")}`}
                </span>
              </div>
              <ProgressBar
                value={environment.inUse === null ? 0 : environment.inUse / environment.limit}
                label={environment.inUse === null ? "limiter unavailable" : undefined}
                compact
              />
            </div>
          ))}
        </div>
      </div>

      <div className="card">
        <h2>Backend</h2>
        <p className="muted">
          Run feeds are served by the shape server (<code>electric</code>), from Postgres and Redis signals without a
          shape server (<code>native</code>), or by the shape server with the native answer compared beside it on a
          sample (<code>shadow</code>). This organisation:{" "}
          <strong data-testid="realtime-backend">{backend.override ?? backend.default}</strong>
          {backend.override ? null : " (the deployment's default)"}.
        </p>
        <Form method="post" className="inline-form">
          <select name="backend" defaultValue={backend.override ?? "default"} aria-label="Realtime backend">
            <option value="default">{`Default (${backend.default})`}</option>
            <option value="electric">electric</option>
            <option value="native">native</option>
            <option value="shadow">shadow</option>
          </select>
          <button type="submit" className="button">
            Save
          </button>
        </Form>
      </div>

      <WritePipelinePanel
        resourcePath={`/resources/orgs/${orgSlug}/projects/${projectSlug}/env/${envSlug}/write-pipeline`}
      />

      <div className="card">
        <h2>
          Shape server <span className={`health ${healthy ? "health-ok" : "health-bad"}`}>{health.status}</span>
        </h2>
        <p className="muted">
          <code>{health.origin}</code>
          {health.error ? <> · {health.error}</> : null}
        </p>
        <div className="stat-tiles">
          <Stat label="Shapes" value={health.summary.shapes} />
          <Stat label="Live subscribers" value={health.summary.subscribers} />
          <Stat
            label="Replication lag"
            value={health.summary.replicationLagBytes}
            unit="bytes"
            testId="replication-lag"
          />
        </div>
        {health.metrics.length ? (
          <div className="table-wrap">
            <table className="table metrics-table">
              <thead>
                <tr>
                  <th>Metric</th>
                  <th>Labels</th>
                  <th className="num">Value</th>
                </tr>
              </thead>
              <tbody>
                {health.metrics.slice(0, 60).map((sample) => (
                  <tr key={`${sample.name}${sample.labels}`}>
                    <td className="mono">{sample.name}</td>
                    <td className="mono muted">{sample.labels}</td>
                    <td className="num mono">{formatMetric(sample.value)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted">No shape, subscriber or replication metrics were reported.</p>
        )}
      </div>
    </section>
  );
}

function Stat({
  label,
  value,
  unit,
  testId,
}: {
  label: string;
  value: number | undefined;
  unit?: string;
  testId?: string;
}) {
  return (
    <div className="stat" data-testid={testId}>
      <span className="label">{label}</span>
      <span className="stat-value">{value === undefined ? "–" : formatMetric(value)}</span>
      {unit && value !== undefined ? <span className="muted">{unit}</span> : null}
    </div>
  );
}

const formatMetric = (value: number) => (Number.isInteger(value) ? value.toLocaleString("en-US") : value.toFixed(3));
