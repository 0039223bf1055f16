/**
 * A run's realtime streams on its page, live, through the product's own hooks (@runfeed/react-hooks
 * `useRealtimeStream`) on the same public route a browser app uses: text streams as text accumulating,
 * streams of objects as one JSON part per line. A stream that ends (its run finished) says so; a
 * refused token (the dashboard's are short-lived) is replaced and the stream resumes after its last part.
 */
import { useRealtimeStream } from "@runfeed/react-hooks";
import { useEffect, useState } from "react";

export interface RunStreamsProps {
  runId: string;
  keys: readonly string[];
  token: string;
  refreshToken: () => Promise<string>;
}

/** Parts shown for an object stream (the newest; the count says how many there are). */
const MAX_JSON_PARTS = 200;

export function RunStreams({ runId, keys, token, refreshToken }: RunStreamsProps) {
  // The hooks run in the browser only: the page's own origin is the API.
  const [origin, setOrigin] = useState<string>();
  useEffect(() => setOrigin(window.location.origin), []);
  return (
    <div className="card" data-testid="run-streams">
      <h2>
        Streams <span className="muted">({keys.length})</span>
      </h2>
      {keys.length === 0 ? (
        <p className="muted">This run has not written any realtime stream.</p>
      ) : (
        keys.map((key) => (
          <StreamPanel
            key={key}
            runId={runId}
            streamKey={key}
            origin={origin}
            token={token}
            refreshToken={refreshToken}
          />
        ))
      )}
    </div>
  );
}

function StreamPanel({
  runId,
  streamKey,
  origin,
  token: initialToken,
  refreshToken,
}: {
  runId: string;
  streamKey: string;
  origin: string | undefined;
  token: string;
  refreshToken: () => Promise<string>;
}) {
  const [token, setToken] = useState(initialToken);
  const [earlier, setEarlier] = useState<{ parts: unknown[]; lastEventId?: string }>({ parts: [] });
  const { parts, lastEventId, error } = useRealtimeStream(runId, streamKey, {
    baseURL: origin,
    accessToken: token,
    enabled: origin !== undefined,
    lastEventId: earlier.lastEventId,
  });
  const refused = (error as { status?: number } | undefined)?.status === 401;
  useEffect(() => {
    if (!refused) return;
    // Keep what was read, resume after it with a fresh token.
    setEarlier((previous) => ({
      parts: [...previous.parts, ...parts],
      lastEventId: lastEventId ?? previous.lastEventId,
    }));
    void refreshToken().then(setToken, () => {});
  }, [refused, parts, lastEventId, refreshToken]);

  const all = earlier.parts.length > 0 ? [...earlier.parts, ...parts] : parts;
  const isText = all.every((part) => typeof part === "string");
  return (
    <section className="stream" data-stream-key={streamKey} data-parts={all.length}>
      <header className="stream-header">
        <span className="mono">{streamKey}</span>
        <span className="muted">
          {all.length} {all.length === 1 ? "part" : "parts"}
        </span>
      </header>
      {all.length === 0 ? (
        <p className="muted">Nothing written yet.</p>
      ) : isText ? (
        <pre className="code stream-text" data-testid={`stream-text-${streamKey}`}>
          {all.join("")}
        </pre>
      ) : (
        <ol className="code stream-parts" data-testid={`stream-parts-${streamKey}`}>
          {all.slice(-MAX_JSON_PARTS).map((part, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: parts are append-only; the position is their identity
            <li key={all.length - Math.min(all.length, MAX_JSON_PARTS) + i}>{JSON.stringify(part)}</li>
          ))}
        </ol>
      )}
      {error && !refused ? <p className="error-title">Stream error: {error.message}</p> : null}
    </section>
  );
}
