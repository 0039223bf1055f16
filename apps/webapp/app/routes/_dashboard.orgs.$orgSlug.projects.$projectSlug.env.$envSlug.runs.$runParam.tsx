/**
 * One run, live: status, timestamps, metadata (with a progress bar), output and error follow the
 * single-run realtime feed, and its log lines the run's log feed (RunLogs); the lists of relatives are
 * refreshed when the run changes. A run that has not finished can be cancelled.
 */
import { data, type ActionFunctionArgs, type LoaderFunctionArgs, type MetaFunction } from "@remix-run/node";
import { Form, Link, useLoaderData, useNavigation, useParams, useRevalidator } from "@remix-run/react";
import { useCallback, useEffect, useRef } from "react";
import { isFinalRunStatus, publicStatusFromRunStatus } from "@runfeed/core";
import { RunLogs } from "../components/runs/RunLogs";
import { RunStreams } from "../components/runs/RunStreams";
import { RunsTable } from "../components/runs/RunsTable";
import { useLiveRun } from "../components/runs/useLiveRuns";
import {
  formatCost,
  formatDuration,
  formatTimestamp,
  metadataProgress,
  parseUtcTimestamp,
  runDurationMs,
  type RunListItem,
} from "../components/runs/runRow";
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
import { dashboardRealtimeToken, getRunDetail, requireEnvironment } from "../services/dashboard.server";
import { findRun } from "../services/runs.server";
import { cancelRun } from "../services/runsActions.server";
import { requireUser } from "../services/session.server";

export const meta: MetaFunction<typeof loader> = ({ data }) => [
  { title: `${data?.detail.run.friendlyId ?? "Run"} · runfeed` },
];

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const friendlyId = params.runParam ?? "";
  const detail = await getRunDetail(services.prisma, environment.id, friendlyId).catch(() => {
    throw new Response(`No run ${friendlyId} in this environment.`, { status: 404 });
  });
  return { detail, now: Date.now(), token: await dashboardRealtimeToken(environment, detail.run.friendlyId) };
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
  const { detail, token, now: loadedAt } = useLoaderData<typeof loader>();
  const loaded = detail.run;
  const refreshToken = useCallback(
    () =>
      fetch(
        `/resources${window.location.pathname.replace(/\/runs\/[^/]+\/?$/, "")}/realtime-token?run=${loaded.friendlyId}`,
      )
        .then((r) => r.json() as Promise<{ token: string }>)
        .then((b) => b.token),
    [loaded.friendlyId],
  );
  const live = useLiveRun({ token, refreshToken, friendlyId: loaded.friendlyId });
  const now = useNow(1000, loadedAt);
  const params = useParams();
  const runsPath = `/orgs/${params.orgSlug}/projects/${params.projectSlug}/env/${params.envSlug}/runs`;

  // Newest of the loader's copy and the feed's copy.
  const useLive = live.run !== undefined && live.run.updatedAt >= loaded.updatedAt;
  const run: RunListItem = useLive ? live.run! : loaded;
  const raw = useLive ? live.raw! : undefined;
  const output = raw ? raw.output : loaded.output;
  const error = raw ? raw.error : loaded.error;
  const payload = raw && typeof raw.payload === "string" ? raw.payload : loaded.payload;
  const status = publicStatusFromRunStatus(run.status);
  const streamKeys =
    raw && Array.isArray(raw.realtimeStreams) ? (raw.realtimeStreams as string[]) : loaded.realtimeStreams;
  const progress = metadataProgress(run.metadata);

  useRefreshRelatives(
    run.updatedAt,
    loaded.updatedAt,
    detail.children.length > 0 || run.taskIdentifier === "csv-import",
  );

  return (
    <section className="page">
      <nav className="breadcrumbs">
        <Link to={runsPath}>Runs</Link> <span aria-hidden>/</span> <span className="mono">{run.friendlyId}</span>
      </nav>
      <PageHeader
        title={
          <>
            <span className="mono">{run.friendlyId}</span> <CopyButton value={run.friendlyId} label="Copy id" />
          </>
        }
        subtitle={
          <>
            <span className="task-name">{run.taskIdentifier}</span> · created{" "}
            <RelativeTime ms={run.createdAt} now={now} />
          </>
        }
        actions={
          <>
            {isFinalRunStatus(run.status) ? null : <CancelRunButton />}
            <LiveIndicator state={live.state} />
          </>
        }
      />

      <div className="run-summary card" data-run-id={run.friendlyId} data-status={status}>
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
          <span className="mono">{loaded.attemptCount}</span>
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
            <Timestamp label="Created" ms={run.createdAt} />
            <Timestamp label="Queued" ms={raw ? parseUtcTimestamp(raw.queuedAt) : loaded.queuedAt} />
            <Timestamp
              label="Delayed until"
              ms={raw ? parseUtcTimestamp(raw.delayUntil) : loaded.delayUntil}
              hideEmpty
            />
            <Timestamp label="Started" ms={run.startedAt} />
            <Timestamp label="Finished" ms={run.completedAt} />
            <Timestamp label="Expired" ms={raw ? parseUtcTimestamp(raw.expiredAt) : loaded.expiredAt} hideEmpty />
            <Timestamp label="Updated" ms={run.updatedAt} />
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
            <dd className="mono">{loaded.batchFriendlyId ?? <span className="muted">none</span>}</dd>
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
            <dd className="mono">{loaded.idempotencyKey ?? <span className="muted">none</span>}</dd>
            <dt>Test run</dt>
            <dd>{loaded.isTest ? "yes" : "no"}</dd>
          </dl>
        </div>
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Payload</h2>
          <CodeBlock value={payload} />
        </div>
        <div className="card">
          <h2>Metadata</h2>
          <CodeBlock value={run.metadata} empty="No metadata." />
        </div>
      </div>

      <div className="grid-2">
        <div className="card">
          <h2>Output</h2>
          <CodeBlock value={output} empty={run.completedAt ? "No output." : "Not finished yet."} />
        </div>
        <div className={error ? "card card-error" : "card"}>
          <h2>Error</h2>
          <RunError error={error} />
        </div>
      </div>

      <RunLogs runId={loaded.friendlyId} token={token} refreshToken={refreshToken} />

      <RunStreams runId={loaded.friendlyId} keys={streamKeys} token={token} refreshToken={refreshToken} />

      <div className="card">
        <h2>
          Child runs <span className="muted">({detail.children.length})</span>
        </h2>
        {detail.children.length ? (
          <RunsTable runs={detail.children} now={now} runHref={(child) => `${runsPath}/${child.friendlyId}`} />
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

function Timestamp({ label, ms, hideEmpty }: { label: string; ms: number | null; hideEmpty?: boolean }) {
  if (hideEmpty && ms === null) return null;
  return (
    <>
      <dt>{label}</dt>
      <dd className="mono" suppressHydrationWarning>
        {formatTimestamp(ms)}
      </dd>
    </>
  );
}

function RunLink({ run, base }: { run: RunListItem; base: string }) {
  return (
    <Link to={`${base}/${run.friendlyId}`} className="mono">
      {run.friendlyId}
    </Link>
  );
}

function RunError({ error }: { error: unknown }) {
  if (!error || typeof error !== "object") return <p className="muted">No error.</p>;
  const e = error as {
    type?: string;
    name?: string;
    message?: string;
    raw?: string;
    code?: string;
    stackTrace?: string;
  };
  const title = e.type === "INTERNAL_ERROR" ? `Internal error (${e.code})` : (e.name ?? e.type ?? "Error");
  return (
    <div>
      <p className="error-title">
        <strong>{title}</strong>: {e.message ?? e.raw ?? ""}
      </p>
      {e.stackTrace ? <pre className="code code-error">{e.stackTrace}</pre> : null}
    </div>
  );
}
