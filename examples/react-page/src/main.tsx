/**
 * Watches runs live. Open with `?token=<public token>&baseURL=http://localhost:3030` plus one of
 * `runId=run_…` (useRealtimeRun), `tag=…` (useRealtimeRunsWithTag) or `batchId=batch_…` (useRealtimeBatch).
 * `useRealtimeRun` comes from "realtime-hooks", which vite.config.ts points at @runfeed/react-hooks
 * (default) or, with HOOKS=trigger, at the unmodified @trigger.dev/react-hooks: the same page works
 * with both.
 */
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import { useRealtimeBatch, useRealtimeRun, useRealtimeRunsWithTag } from "realtime-hooks";

const params = new URLSearchParams(location.search);
const runId = params.get("runId") ?? undefined;
const accessToken = params.get("token") ?? undefined;
const baseURL = params.get("baseURL") ?? undefined;
const tag = params.get("tag") ?? undefined;
const batchId = params.get("batchId") ?? undefined;

type ListedRun = { id: string; status: string };

function RunList({ runs, error }: { runs: ListedRun[]; error?: Error }) {
  return (
    <main>
      <h1>{tag ? `Runs tagged ${tag}` : `Batch ${batchId}`}</h1>
      <p data-testid="count">{runs.length}</p>
      <ul>
        {runs.map((run) => (
          <li key={run.id} data-testid={`run-${run.id}`}>
            {run.status}
          </li>
        ))}
      </ul>
      {error && (
        <p className="error" data-testid="error">
          {error.name}: {error.message}
        </p>
      )}
    </main>
  );
}

function TagView() {
  const { runs, error } = useRealtimeRunsWithTag(tag!, { accessToken, baseURL });
  return <RunList runs={runs} error={error} />;
}

function BatchView() {
  const { runs, error } = useRealtimeBatch(batchId!, { accessToken, baseURL });
  return <RunList runs={runs} error={error} />;
}

function RunView() {
  const [history, setHistory] = useState<string[]>([]);
  const [completions, setCompletions] = useState(0);
  const { run, error } = useRealtimeRun(runId, {
    accessToken,
    baseURL,
    enabled: Boolean(runId && accessToken),
    onComplete: () => setCompletions((n) => n + 1),
  });
  const status = run?.status;
  if (status && history.at(-1) !== status) setHistory([...history, status]);

  if (!runId || !accessToken)
    return (
      <p>
        Pass <code>?runId=…&amp;token=…&amp;baseURL=…</code> in the URL.
      </p>
    );
  const progress = (run?.metadata as { progress?: number } | undefined)?.progress;
  return (
    <main>
      <h1>Run {runId}</h1>
      <p className="status" data-testid="status">
        {status ?? "connecting"}
      </p>
      {progress !== undefined && <progress max={1} value={progress} data-testid="progress" />}
      <p>
        History: <span data-testid="history">{history.join(" → ")}</span>
      </p>
      <p>
        Finished: <span data-testid="finished">{run?.finishedAt ? run.finishedAt.toISOString() : "no"}</span>,
        onComplete calls: <span data-testid="completions">{completions}</span>
      </p>
      <p>
        Output: <code data-testid="output">{run?.output === undefined ? "" : JSON.stringify(run.output)}</code>
      </p>
      {error && (
        <p className="error" data-testid="error">
          {error.name}: {error.message}
        </p>
      )}
    </main>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>{tag ? <TagView /> : batchId ? <BatchView /> : <RunView />}</StrictMode>,
);
