/**
 * Live write-pipeline panel (docs/decisions/092-write-pipeline.md): per class the backlog, accepted
 * and applied per second, coalescing and apply time; per stream its depth and oldest entry's age.
 * Polls the resource route every second while the page is visible.
 */
import { useFetcher } from "@remix-run/react";
import { useEffect, useRef } from "react";
import type { PipelineSnapshot } from "../services/writePipeline/pipelineSnapshot.server";

const POLL_MS = 1000;
const CLASS_LABEL = { high: "high · metadata", low: "low · log lines" } as const;

export function WritePipelinePanel({ resourcePath }: { resourcePath: string }) {
  const fetcher = useFetcher<PipelineSnapshot | { error: string }>();
  // The fetcher object changes every render; the interval reads the latest one through a ref.
  const latest = useRef(fetcher);
  latest.current = fetcher;
  useEffect(() => {
    const load = () => {
      const current = latest.current;
      if (document.visibilityState === "visible" && current.state === "idle") current.load(resourcePath);
    };
    load();
    const timer = setInterval(load, POLL_MS);
    return () => clearInterval(timer);
  }, [resourcePath]);
  const data = fetcher.data;

  return (
    <div className="card" data-testid="write-pipeline">
      <h2>Write pipeline</h2>
      <p className="muted">
        Buffered writes across every instance: metadata operations (high, applied within a second) and run log lines
        (low, within a few seconds). Refreshes every second.
      </p>
      {!data ? (
        <p className="muted">Loading…</p>
      ) : "error" in data ? (
        <p className="muted">{data.error}</p>
      ) : (
        <>
          <div className="table-wrap">
            <table className="table">
              <thead>
                <tr>
                  <th>Class</th>
                  <th className="num">Queued</th>
                  <th className="num">Accepted/s</th>
                  <th className="num">Applied/s</th>
                  <th className="num">Coalescing</th>
                  <th className="num">Apply ms/batch</th>
                  <th className="num">Lag ms</th>
                </tr>
              </thead>
              <tbody>
                {(["high", "low"] as const).map((urgency) => {
                  const c = data.classes[urgency];
                  return (
                    <tr key={urgency} data-class={urgency}>
                      <td>{CLASS_LABEL[urgency]}</td>
                      <td className="num mono" data-testid={`pipeline-depth-${urgency}`}>
                        {format(c.depth)}
                      </td>
                      <td className="num mono">{format(c.acceptedPerSecond)}</td>
                      <td className="num mono">{format(c.appliedPerSecond)}</td>
                      <td className="num mono">{c.coalescing === null ? "–" : `${c.coalescing.toFixed(1)}×`}</td>
                      <td className="num mono">{c.applyMsPerBatch === null ? "–" : c.applyMsPerBatch.toFixed(1)}</td>
                      <td className="num mono">{c.lagMsPerBatch === null ? "–" : format(c.lagMsPerBatch)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <div className="table-wrap">
            <table className="table metrics-table">
              <thead>
                <tr>
                  <th>Stream</th>
                  <th className="num">Depth</th>
                  <th className="num">Oldest entry</th>
                </tr>
              </thead>
              <tbody>
                {data.streams.map((stream) => (
                  <tr key={stream.name}>
                    <td className="mono">{`${stream.urgency}:${stream.partition}`}</td>
                    <td className="num mono">{format(stream.depth)}</td>
                    <td className="num mono">{stream.depth ? `${(stream.oldestAgeMs / 1000).toFixed(1)} s` : "–"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p className="muted">
            {data.ownedHere === null
              ? "This instance hosts no drain."
              : `This instance's drain owns ${data.ownedHere} of ${data.streams.length} streams.`}
          </p>
        </>
      )}
    </div>
  );
}

const format = (value: number) => Math.round(value).toLocaleString("en-US");
