/**
 * One run, live: status, timestamps, metadata (with a progress bar), output and error follow the
 * single-run realtime feed (@runfeed/react-hooks `useRealtimeRun`), its log lines the run's log feed
 * (RunLogs, `useRunLogs`); the lists of relatives are refreshed when the run changes. A run that has
 * not finished can be cancelled.
 */
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, Link, useLoaderData, useNavigation, useParams, useRevalidator } from "@remix-run/react";
import { useEffect, useRef } from "react";
import { useRealtimeRun } from "@runfeed/react-hooks";
import type { RealtimeRun, RunError as RunErrorValue } from "@runfeed/sdk";
import { RunLogs } from "../components/runs/RunLogs";
import { RunStreams } from "../components/runs/RunStreams";
import { RunsTable } from "../components/runs/RunsTable";
import { liveIndicatorState, useDashboardRealtime } from "../components/runs/useDashboardRealtime";
import {
  formatCost,
  formatDuration,
  formatTimestamp,
  metadataProgress,
  runDurationMs,
} from "../components/runs/format";
import {
  CodeBlock,
  CopyButton,
  LiveIndicator,
  PageHeader,
  ProgressBar,
  RelativeTime,
  StatusBadge,
  Tag,
  useNow,
} from "../components/ui";
import { dashboardRealtimeToken, requireEnvironment } from "../services/dashboard.server";
import { getRunDetail, type RunDetail } from "../services/dashboardRuns.server";
import { findRun } from "../services/runLookup.server";
import { cancelRun } from "../services/runsActions.server";
import { requireUser } from "../services/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `${(data?.detail.run as { id?: string } | undefined)?.id ?? "Run"} · runfeed` },
];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const friendlyId = params.runParam ?? "";
  const detail = await getRunDetail(services.prisma, environment.id, friendlyId).catch(() => {
    throw new Response(`No run ${friendlyId} in this environment.`, { status: 404 });
  });
  return { detail, now: Date.now(), token: await dashboardRealtimeToken(services, environment, detail.run.id) };
}

export async function action({ request, params, context }: ActionFunctionArgs) {
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(context.services, user.id, params);
  const form = await request.formData();
  if (form.get("intent") !== "cancel") return data({ error: "Unknown action." }, { status: 400 });
  const run = await findRun(context.services.prisma, environment.id, params.runParam ?? "");
  if (!run) return data({ error: "Run not found." }, { status: 404 });
  await cancelRun(context.services.prisma, run);
  return { canceled: run.friendlyId };
}

export default function RunPage() {
  const { token, now: loadedAt, ...data } = useLoaderData<typeof loader>();
  // Single fetch keeps the runs' Dates (the inferred type says strings).
  const detail = data.detail as unknown as RunDetail;
  const loaded = detail.run;
  const realtime = useDashboardRealtime(token, loaded.id);
  // Follows the run after it finished too (metadata, a late output), as long as the page is open.
  const live = useRealtimeRun(loaded.id, { ...realtime, stopOnCompletion: false });
  const now = useNow(1000, loadedAt);
  const params = useParams();
  const runsPath = `/orgs/${params.orgSlug}/projects/${params.projectSlug}/env/${params.envSlug}/runs`;

  // Newest of the loader's copy and the feed's copy.
  const run: RealtimeRun = live.run && live.run.updatedAt >= loaded.updatedAt ? live.run : loaded;
  const status = run.status;
  const progress = metadataProgress(run.metadata);

  useRefreshRelatives(
    run.updatedAt.getTime(),
    loaded.updatedAt.getTime(),
    detail.children.length > 0 || run.taskIdentifier === "csv-import",
  );

  return (
    <section className="page">
      <nav className="breadcrumbs">
        <Link to={runsPath}>Runs</Link> <span aria-hidden>/</span> <span className="mono">{run.id}</span>
      </nav>
      <PageHeader
        title={
          <>
            <span className="mono">{run.id}</span> <CopyButton value={run.id} label="Copy id" />
          </>
        }
        subtitle={
          <>
            <span className="task-name">{run.taskIdentifier}</span> · created{" "}
            <RelativeTime ms={run.createdAt.getTime()} now={now} />
          </>
        }
        actions={
          <>
            {run.finishedAt ? null : <CancelRunButton />}
            <LiveIndicator state={liveIndicatorState(live.connection)} />
          </>
        }
      />

      <div className="run-summary card" data-run-id={run.id} data-status={status}>
        <div className="summary-item">
          <span className="label">Status</span>
          <span key={run.status} className="flash">
            <StatusBadge status={status} />
          </span>
        </div>
        <div className="summary-item">
          <span className="label">Duration</span>
          <span className="mono">{formatDuration(runDurationMs(run, now))}</span>
        </div>
        <div className="summary-item">
          <span className="label">Cost</span>
          <span className="mono">{formatCost(run.costInCents + run.baseCostInCents)}</span>
        </div>
        <div className="summary-item">
          <span className="label">Attempts</span>
          <span className="mono">{detail.attemptCount}</span>
        </div>
        {progress !== undefined ? (
          <div className="summary-item summary-progress">
            <span className="label">Progress</span>
            <ProgressBar
              value={progress}
              label={
                typeof run.metadata?.processed === "number" && typeof run.metadata?.total === "number"
                  ? `${run.metadata.processed} / ${run.metadata.total} (${Math.round(progress * 100)}%)`
                  : undefined
              }
            />
          </div>
        ) : null}
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Timeline</h2>
          <dl className="timeline">
            <Timestamp label="Created" at={run.createdAt} />
            <Timestamp label="Queued" at={run.queuedAt} />
            <Timestamp label="Delayed until" at={run.delayedUntil} hideEmpty />
            <Timestamp label="Started" at={run.startedAt} />
            <Timestamp label="Finished" at={run.finishedAt} />
            <Timestamp label="Expired" at={run.expiredAt} hideEmpty />
            <Timestamp label="Updated" at={run.updatedAt} />
          </dl>
        </div>
        <div className="card">
          <h2>Details</h2>
          <dl className="details">
            <dt>Tags</dt>
            <dd>
              {run.tags.length ? (
                <span className="tags">
                  {run.tags.map((tag) => (
                    <Tag key={tag}>{tag}</Tag>
                  ))}
                </span>
              ) : (
                <span className="muted">none</span>
              )}
            </dd>
            <dt>Batch</dt>
            <dd className="mono">{detail.batchFriendlyId ?? <span className="muted">none</span>}</dd>
            <dt>Parent</dt>
            <dd>
              {detail.parent ? <RunLink run={detail.parent} base={runsPath} /> : <span className="muted">none</span>}
            </dd>
            {detail.root ? (
              <>
                <dt>Root</dt>
                <dd>
                  <RunLink run={detail.root} base={runsPath} />
                </dd>
              </>
            ) : null}
            <dt>Idempotency key</dt>
            <dd className="mono">{detail.idempotencyKey ?? <span className="muted">none</span>}</dd>
            <dt>Test run</dt>
            <dd>{run.isTest ? "yes" : "no"}</dd>
          </dl>
        </div>
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Payload</h2>
          <CodeBlock value={run.payload ?? loaded.payload} />
        </div>
        <div className="card">
          <h2>Metadata</h2>
          <CodeBlock value={run.metadata} empty="No metadata." />
        </div>
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Output</h2>
          <CodeBlock value={run.output} empty={run.finishedAt ? "No output." : "Not finished yet."} />
        </div>
        <div className={run.error ? "card card-error" : "card"}>
          <h2>Error</h2>
          <RunError error={run.error} />
        </div>
      </div>

      <div className="card">
        <h2>
          Attempts <span className="muted">({detail.attempts.length})</span>
        </h2>
        {detail.attempts.length ? (
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>#</th>
                  <th>Status</th>
                  <th>Worker</th>
                  <th>Started</th>
                  <th>Last heartbeat</th>
                  <th>Error</th>
                </tr>
              </thead>
              <tbody>
                {detail.attempts.map((attempt) => (
                  <tr key={attempt.number}>
                    <td>{attempt.number}</td>
                    <td>
                      <Tag>{attempt.status}</Tag>
                    </td>
                    <td className="mono">{attempt.workerId}</td>
                    <td className="nowrap">
                      <RelativeTime ms={attempt.startedAt} now={now} />
                    </td>
                    <td className="nowrap">
                      <RelativeTime ms={attempt.heartbeatAt} now={now} />
                    </td>
                    <td>{attempt.error?.message ?? attempt.error?.raw ?? attempt.error?.code ?? "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : (
          <p className="muted">Not started yet.</p>
        )}
      </div>

      <RunLogs runId={loaded.id} token={realtime.accessToken} refreshToken={realtime.onTokenRefused} />

      <RunStreams
        runId={loaded.id}
        keys={run.realtimeStreams}
        token={realtime.accessToken}
        refreshToken={realtime.onTokenRefused}
      />

      <div className="card">
        <h2>
          Child runs <span className="muted">({detail.children.length})</span>
        </h2>
        {detail.children.length ? (
          <RunsTable runs={detail.children} now={now} runHref={(child) => `${runsPath}/${child.id}`} />
        ) : (
          <p className="muted">This run has not triggered any runs.</p>
        )}
      </div>
    </section>
  );
}

function CancelRunButton() {
  const navigation = useNavigation();
  const canceling = navigation.state === "submitting" && navigation.formData?.get("intent") === "cancel";
  return (
    <Form method="post">
      <input type="hidden" name="intent" value="cancel" />
      <button className="button button-ghost button-small" type="submit" disabled={canceling}>
        {canceling ? "Canceling…" : "Cancel run"}
      </button>
    </Form>
  );
}

/** Re-reads the loader (relatives, attempts) at most once a second while the run keeps changing. */
function useRefreshRelatives(liveUpdatedAt: number, loadedUpdatedAt: number, enabled: boolean) {
  const revalidator = useRevalidator();
  const last = useRef(0);
  useEffect(() => {
    if (!enabled || liveUpdatedAt <= loadedUpdatedAt || revalidator.state !== "idle") return;
    const wait = Math.max(0, last.current + 1000 - Date.now());
    const timer = setTimeout(() => {
      last.current = Date.now();
      revalidator.revalidate();
    }, wait);
    return () => clearTimeout(timer);
  }, [liveUpdatedAt, loadedUpdatedAt, enabled, revalidator]);
}

function Timestamp({ label, at, hideEmpty }: { label: string; at: Date | undefined; hideEmpty?: boolean }) {
  if (hideEmpty && !at) return null;
  return (
    <>
      <dt>{label}</dt>
      <dd className="mono" suppressHydrationWarning>
        {formatTimestamp(at ? at.getTime() : null)}
      </dd>
    </>
  );
}

function RunLink({ run, base }: { run: RealtimeRun; base: string }) {
  return (
    <Link to={`${base}/${run.id}`} className="mono">
      {run.id}
    </Link>
  );
}

function RunError({ error }: { error: RunErrorValue | undefined }) {
  if (!error) return <p className="muted">No error.</p>;
  return (
    <div>
      <p className="error-title">
        <strong>{error.name ?? "Error"}</strong>: {error.message}
      </p>
      {error.stackTrace ? <pre className="code code-error">{error.stackTrace}</pre> : null}
    </div>
  );
}
