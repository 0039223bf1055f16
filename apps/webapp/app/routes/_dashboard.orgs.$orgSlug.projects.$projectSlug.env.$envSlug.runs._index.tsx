/**
 * Runs: a live table of the environment's runs. The first page merges the loader's rows with the
 * environment-wide realtime feed of @runfeed/react-hooks (`useRealtimeRuns`: the whole environment or
 * the tag filter, created within the range, at most 24 h, newest first, as many as the page shows), so
 * runs appear and change in place; status and task filters apply to live rows as they change.
 * Older pages are history (keyset pagination, not live).
 */
import { runChangedOf } from "../services/realtime/native/runSignals.server";
import {
  data,
  unstable_createMemoryUploadHandler,
  unstable_parseMultipartFormData,
  type ActionFunctionArgs,
  type LoaderFunctionArgs,
  type MetaFunction,
} from "@remix-run/node";
import {
  Form,
  Link,
  useActionData,
  useLoaderData,
  useNavigation,
  useSearchParams,
  useSubmit,
  type ShouldRevalidateFunction,
} from "@remix-run/react";
import { useMemo } from "react";
import { PUBLIC_RUN_STATUSES } from "@runfeed/core";
import { useRealtimeRuns } from "@runfeed/react-hooks";
import { newestFirst, type RealtimeRun } from "@runfeed/sdk";
import { RunsTable } from "../components/runs/RunsTable";
import { liveIndicatorState, useDashboardRealtime } from "../components/runs/useDashboardRealtime";
import { CopyButton, LiveIndicator, PageHeader, statusLabel, useNow } from "../components/ui";
import { TIME_RANGES, parseRunFilters, runCursor, type RunFilters, type TimeRange } from "../components/runs/filters";
import { dashboardRealtimeToken, requireEnvironment } from "../services/dashboard.server";
import { listRuns, type RunPage } from "../services/dashboardRuns.server";
import { requireUser } from "../services/session.server";
import { triggerRun } from "../services/trigger.server";

export const meta: MetaFunction = () => [{ title: "Runs · runfeed" }];

const LIVE_WINDOW_MS = 86_400_000;
const LIVE_RUNS_KEPT = 100;
const MAX_UPLOAD_BYTES = 2 * 1024 * 1024;
const CSV_IMPORT_TASK = "csv-import";

export async function loader({ request, params, context }: LoaderFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const url = new URL(request.url);
  const filters = parseRunFilters(url);
  const page = await listRuns(services.prisma, environment.id, filters);
  const noFilters = !filters.status && !filters.task && !filters.tag && !filters.cursor;
  const isEmpty = page.runs.length === 0 && noFilters;
  return {
    filters,
    page,
    now: Date.now(),
    token: await dashboardRealtimeToken(services, environment),
    // The empty state shows a ready-to-paste trigger command.
    quickstart: isEmpty
      ? { origin: services.env.APP_ORIGIN ?? url.origin, secretKey: environment.apiKey, envType: environment.type }
      : undefined,
  };
}

export async function action({ request, params, context }: ActionFunctionArgs) {
  const { services } = context;
  const user = await requireUser(context, request);
  const environment = await requireEnvironment(services, user.id, params);
  const isMultipart = request.headers.get("content-type")?.startsWith("multipart/form-data");
  const form = isMultipart
    ? await unstable_parseMultipartFormData(
        request,
        unstable_createMemoryUploadHandler({ maxPartSize: MAX_UPLOAD_BYTES }),
      )
    : await request.formData();
  const intent = String(form.get("intent") ?? "");
  // The CSV import is one of the tasks this process was handed (Services.tasks), with its sample data.
  const task = services.tasks.get(CSV_IMPORT_TASK);
  let payload: unknown;
  if (intent === "csv-upload") {
    const file = form.get("file");
    if (!(file instanceof File) || file.size === 0)
      return data({ error: "Choose a CSV file to import." }, { status: 400 });
    payload = { filename: file.name || "upload.csv", csv: await file.text(), batchSize: 25, rowDelayMs: 40 };
  } else if (intent === "csv-sample") {
    if (!task?.samplePayload)
      return data({ error: `No "${CSV_IMPORT_TASK}" task with sample data runs here.` }, { status: 400 });
    payload = task.samplePayload();
  } else {
    return data({ error: `Unknown action "${intent}".` }, { status: 400 });
  }
  const { run } = await triggerRun(services.prisma, {
    environment,
    taskId: CSV_IMPORT_TASK,
    body: {
      payload,
      options: { tags: ["example:csv-import"], ttl: 0 },
    },
    metadataMaximumSize: services.env.TASK_RUN_METADATA_MAXIMUM_SIZE,
  });
  services.runSignals.publishRunChanged(runChangedOf(run));
  services.worker?.wake();
  return { triggered: run.friendlyId, filename: (payload as { filename: string }).filename };
}

/** Triggering does not reload the list: the new run arrives through the live feed like any other. */
export const shouldRevalidate: ShouldRevalidateFunction = ({ formMethod, defaultShouldRevalidate }) =>
  formMethod?.toUpperCase() === "POST" ? false : defaultShouldRevalidate;

const RANGE_LABEL: Record<TimeRange, string> = {
  "15m": "Last 15 minutes",
  "1h": "Last hour",
  "6h": "Last 6 hours",
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  all: "All time",
};

export default function RunsPage() {
  const { token, quickstart, now: loadedAt, ...loaded } = useLoaderData<typeof loader>();
  const filters = loaded.filters as RunFilters;
  // Single fetch keeps the runs' Dates (the inferred type says strings).
  const page = loaded.page as unknown as RunPage;
  const actionData = useActionData<typeof action>() as
    | { triggered: string; filename: string }
    | { error: string }
    | undefined;
  const navigation = useNavigation();
  const [searchParams] = useSearchParams();
  const now = useNow(1000, loadedAt);
  const isHistory = Boolean(filters.cursor);
  const rangeMs = TIME_RANGES[filters.range];
  const liveCreatedAt = rangeMs !== undefined && rangeMs < LIVE_WINDOW_MS ? filters.range : "24h";
  const realtime = useDashboardRealtime(token);
  const live = useRealtimeRuns({
    ...realtime,
    tags: filters.tag,
    createdAt: liveCreatedAt,
    // Enough newest runs to fill the page once status and task filters apply to them here.
    limit: Math.max(filters.limit, LIVE_RUNS_KEPT),
    enabled: !isHistory,
  });
  const runs = useMemo(
    () => (isHistory ? page.runs : mergeRuns(page.runs, live.runs, filters, now, loadedAt)),
    [isHistory, page.runs, live.runs, filters, now, loadedAt],
  );
  const olderCursor = isHistory
    ? page.nextCursor
    : runs.length >= filters.limit
      ? runCursor(runs[runs.length - 1]!)
      : page.nextCursor;
  const tasks = useMemo(
    () => [...new Set([...page.tasks, ...runs.map((r) => r.taskIdentifier)])].sort(),
    [page.tasks, runs],
  );
  const importing = navigation.state === "submitting" && navigation.formMethod?.toUpperCase() === "POST";
  const hasFilters = Boolean(filters.status || filters.task || filters.tag || filters.range !== "7d");

  return (
    <section className="page">
      <PageHeader
        title={
          <>
            Runs <LiveIndicator state={isHistory ? "off" : liveIndicatorState(live.connection)} label="History" />
          </>
        }
        subtitle={
          isHistory
            ? "Older runs, as they were when you opened this page."
            : "Runs appear and change here as they happen."
        }
        actions={<ImportActions importing={importing} />}
      />

      {actionData && "triggered" in actionData ? (
        <p className="notice" role="status">
          Started a CSV import of <strong>{actionData.filename}</strong> as{" "}
          <Link to={actionData.triggered} className="mono">
            {actionData.triggered}
          </Link>
          . Watch its progress below.
        </p>
      ) : null}
      {actionData && "error" in actionData ? (
        <p className="form-error" role="alert">
          {actionData.error}
        </p>
      ) : null}

      <Filters filters={filters} tasks={tasks} hasFilters={hasFilters} />

      {runs.length === 0 ? (
        quickstart && !isHistory ? (
          <EmptyState quickstart={quickstart} importing={importing} />
        ) : (
          <div className="empty">
            <h2>No runs match these filters</h2>
            <p className="muted">New runs that match will appear here as they are triggered.</p>
            <Link to="?" className="button">
              Clear filters
            </Link>
          </div>
        )
      ) : (
        <RunsTable runs={runs} now={now} runHref={(run) => run.id} />
      )}

      <nav className="pagination" aria-label="Pages">
        {isHistory ? (
          <Link className="button button-ghost" to={`?${withParam(searchParams, "cursor", undefined)}`}>
            ← Newest (live)
          </Link>
        ) : (
          <span />
        )}
        <span className="muted">{runs.length > 0 ? `${runs.length} run${runs.length === 1 ? "" : "s"}` : ""}</span>
        {olderCursor ? (
          <Link className="button button-ghost" to={`?${withParam(searchParams, "cursor", olderCursor)}`}>
            Older →
          </Link>
        ) : (
          <span />
        )}
      </nav>
    </section>
  );
}

/** Loader rows plus live rows (newer wins), filtered and ordered like the loader, first page only. */
function mergeRuns(
  loaded: readonly RealtimeRun[],
  live: readonly RealtimeRun[],
  filters: RunFilters,
  now: number,
  loadedAt: number,
): RealtimeRun[] {
  const merged = new Map(loaded.map((run) => [run.id, run]));
  for (const run of live) {
    const known = merged.get(run.id);
    if (!known || run.updatedAt >= known.updatedAt) merged.set(run.id, run);
  }
  const rangeMs = TIME_RANGES[filters.range];
  const floor = rangeMs === undefined ? -Infinity : Math.min(now, loadedAt + 60_000) - rangeMs;
  return [...merged.values()]
    .filter(
      (run) =>
        run.createdAt.getTime() >= floor &&
        (!filters.status || run.status === filters.status) &&
        (!filters.task || run.taskIdentifier === filters.task) &&
        (!filters.tag || run.tags.includes(filters.tag)),
    )
    .sort(newestFirst)
    .slice(0, filters.limit);
}

function withParam(searchParams: URLSearchParams, name: string, value: string | undefined): string {
  const next = new URLSearchParams(searchParams);
  if (value === undefined) next.delete(name);
  else next.set(name, value);
  return next.toString();
}

function Filters({ filters, tasks, hasFilters }: { filters: RunFilters; tasks: string[]; hasFilters: boolean }) {
  const submit = useSubmit();
  return (
    <Form
      method="get"
      className="filters"
      // A select applies at once; the tag field applies on Enter, not on every keystroke (each
      // keystroke's navigation would cut the previous one short).
      onChange={(event) => {
        if (event.target instanceof HTMLInputElement && event.target.type === "search") return;
        submit(event.currentTarget, { replace: true });
      }}
    >
      <label className="field field-inline">
        <span>Status</span>
        <select name="status" defaultValue={filters.status ?? ""} key={`status-${filters.status ?? ""}`}>
          <option value="">Any status</option>
          {PUBLIC_RUN_STATUSES.map((status) => (
            <option key={status} value={status}>
              {statusLabel(status)}
            </option>
          ))}
        </select>
      </label>
      <label className="field field-inline">
        <span>Task</span>
        <select name="task" defaultValue={filters.task ?? ""} key={`task-${filters.task ?? ""}`}>
          <option value="">Any task</option>
          {tasks.map((task) => (
            <option key={task} value={task}>
              {task}
            </option>
          ))}
        </select>
      </label>
      <label className="field field-inline">
        <span>Tag</span>
        <input
          name="tag"
          type="search"
          placeholder="user:123"
          defaultValue={filters.tag ?? ""}
          key={`tag-${filters.tag ?? ""}`}
        />
      </label>
      <label className="field field-inline">
        <span>Created</span>
        <select name="range" defaultValue={filters.range} key={`range-${filters.range}`}>
          {(Object.keys(RANGE_LABEL) as TimeRange[]).map((range) => (
            <option key={range} value={range}>
              {RANGE_LABEL[range]}
            </option>
          ))}
        </select>
      </label>
      {filters.limit !== 25 ? <input type="hidden" name="limit" value={filters.limit} /> : null}
      <noscript>
        <button className="button" type="submit">
          Apply
        </button>
      </noscript>
      {hasFilters ? (
        <Link to="?" className="button button-ghost button-small">
          Clear
        </Link>
      ) : null}
    </Form>
  );
}

function ImportActions({ importing }: { importing: boolean }) {
  return (
    <div className="import-actions">
      <Form method="post">
        <input type="hidden" name="intent" value="csv-sample" />
        <button className="button button-primary" type="submit" disabled={importing}>
          {importing ? "Starting…" : "Import sample CSV"}
        </button>
      </Form>
      <Form method="post" encType="multipart/form-data" className="upload">
        <input type="hidden" name="intent" value="csv-upload" />
        <label className="button button-ghost file-label">
          <input
            type="file"
            name="file"
            accept=".csv,text/csv"
            onChange={(event) => event.currentTarget.form?.requestSubmit()}
            disabled={importing}
          />
          Upload CSV…
        </label>
      </Form>
    </div>
  );
}

function EmptyState({
  quickstart,
  importing,
}: {
  quickstart: { origin: string; secretKey: string; envType: string };
  importing: boolean;
}) {
  const curl = `curl -X POST ${quickstart.origin}/api/v1/tasks/hello-world/trigger \\
  -H "Authorization: Bearer ${quickstart.secretKey}" \\
  -H "Content-Type: application/json" \\
  -d '{"payload":{"name":"runfeed"}}'`;
  return (
    <div className="empty empty-start">
      <h2>Trigger your first run</h2>
      <p className="muted">
        Nothing has run in this environment yet. Paste this into a terminal — the run shows up here the moment it is
        created, then moves to Executing and Completed as the example worker picks it up.
      </p>
      <div className="code-with-copy">
        <pre className="code" data-testid="quickstart-curl">
          {curl}
        </pre>
        <CopyButton value={curl} />
      </div>
      <p className="muted">
        Or start the CSV import example: a parent run splits a CSV into batches of child runs and its progress climbs
        live.
      </p>
      <Form method="post">
        <input type="hidden" name="intent" value="csv-sample" />
        <button className="button button-primary" type="submit" disabled={importing}>
          Import sample CSV
        </button>
      </Form>
    </div>
  );
}
