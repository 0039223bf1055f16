/**
 * A run's log lines and events on its page, live, through the product's own hook (@runfeed/react-hooks
 * `useRunLogs`) on the public `/realtime/v1/runs/:id/logs` route a browser app uses. A refused token
 * (the dashboard's are short-lived) is replaced; the new subscription reads the shape again and the
 * lines already shown are kept (merged by id).
 */
import { mergeRunLogLines, useRunLogs, type RunLogLine } from "@runfeed/react-hooks";
import { useEffect, useState } from "react";

export interface RunLogsProps {
  runId: string;
  token: string;
  refreshToken: () => Promise<string>;
}

/** Lines kept on the page (the newest). */
const MAX_LINES = 1_000;

export function RunLogs({ runId, token: initialToken, refreshToken }: RunLogsProps) {
  // The hook runs in the browser only: the page's own origin is the API.
  const [origin, setOrigin] = useState<string>();
  useEffect(() => setOrigin(window.location.origin), []);
  const [token, setToken] = useState(initialToken);
  const [earlier, setEarlier] = useState<RunLogLine[]>([]);
  const { lines, error } = useRunLogs(runId, {
    baseURL: origin,
    accessToken: token,
    enabled: origin !== undefined,
    maxLines: MAX_LINES,
  });
  const refused = (error as { status?: number } | undefined)?.status === 401;
  useEffect(() => {
    if (!refused) return;
    setEarlier((previous) => mergeRunLogLines(previous, lines));
    void refreshToken().then(setToken, () => {});
  }, [refused, lines, refreshToken]);

  const all = earlier.length > 0 ? mergeRunLogLines(earlier, lines).slice(-MAX_LINES) : lines;
  return (
    <div className="card" data-testid="run-logs" data-lines={all.length}>
      <h2>
        Logs <span className="muted">({all.length})</span>
      </h2>
      {all.length === 0 ? (
        <p className="muted">No log lines yet.</p>
      ) : (
        <ol className="code run-logs">
          {all.map((line) => (
            <li key={line.id} className={`log-line log-${line.level}`} data-kind={line.kind}>
              <span className="log-time" suppressHydrationWarning>
                {line.time.toISOString().slice(11, 23)}
              </span>
              <span className="log-level">{line.kind === "event" ? "event" : line.level}</span>
              <span className="log-message">{line.message}</span>
              {Object.keys(line.attributes).length > 0 ? (
                <span className="log-attributes">{JSON.stringify(line.attributes)}</span>
              ) : null}
            </li>
          ))}
        </ol>
      )}
      {error && !refused ? <p className="error-title">Log feed error: {error.message}</p> : null}
    </div>
  );
}
