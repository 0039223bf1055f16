/**
 * Watches runs live. Open with `?token=<public token>&baseURL=http://localhost:3030` plus one of
 * `runId=run_…` (useRealtimeRun), `tag=…` (useRealtimeRunsWithTag) or `batchId=batch_…` (useRealtimeBatch);
 * `runId=…&stream=llm` reads one realtime stream (useRealtimeStream), `runId=…&withStreams=1` the run
 * and all its streams (useRealtimeRunWithStreams).
 * `useRealtimeRun` comes from "realtime-hooks", which vite.config.ts points at @runfeed/react-hooks
 * (default) or, with HOOKS=trigger, at the unmodified @trigger.dev/react-hooks: the same page works
 * with both.
 */
import { StrictMode, useState } from "react";
import { createRoot } from "react-dom/client";
import {
  useRealtimeBatch,
  useRealtimeRun,
  useRealtimeRunsWithTag,
  useRealtimeRunWithStreams,
  useRealtimeStream,
} from "realtime-hooks";

const params = new URLSearchParams(location.search);
const runId = params.get("runId") ?? undefined;
const accessToken = params.get("token") ?? undefined;
const baseURL = params.get("baseURL") ?? undefined;
const tag = params.get("tag") ?? undefined;
const batchId = params.get("batchId") ?? undefined;
const streamKey = params.get("stream") ?? undefined;
const withStreams = params.get("withStreams") === "1";

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

/** Text chunks joined, anything else one JSON line per chunk. */
const show = (parts: unknown[]) =>
  parts.every((p) => typeof p === "string") ? parts.join("") : parts.map((p) => JSON.stringify(p)).join("\n");

function StreamView() {
  const { parts, error } = useRealtimeStream(runId!, streamKey!, { accessToken, baseURL });
  return (
    <main>
      <h1>
        Stream {streamKey} of {runId}
      </h1>
      <p data-testid="count">{parts.length}</p>
      <pre data-testid="text">{show(parts)}</pre>
      {error && (
        <p className="error" data-testid="error">
          {error.name}: {error.message}
        </p>
      )}
    </main>
  );
}

function RunWithStreamsView() {
  const { run, streams, error } = useRealtimeRunWithStreams(runId!, { accessToken, baseURL });
  return (
    <main>
      <h1>Run {runId} with its streams</h1>
      <p data-testid="status">{run?.status ?? "connecting"}</p>
      {Object.entries(streams as Record<string, unknown[]>).map(([key, parts]) => (
        <section key={key}>
          <h2>{key}</h2>
          <pre data-testid={`stream-${key}`}>{show(parts)}</pre>
        </section>
      ))}
      {error && (
        <p className="error" data-testid="error">
          {error.name}: {error.message}
        </p>
      )}
    </main>
  );
}

function App() {
  if (tag) return <TagView />;
  if (batchId) return <BatchView />;
  if (runId && streamKey) return <StreamView />;
  if (runId && withStreams) return <RunWithStreamsView />;
  return <RunView />;
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
