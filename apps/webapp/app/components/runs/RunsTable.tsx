/** The run table: one memoised row per run, so a live update re-renders only the rows that changed. */
import { Link } from "@remix-run/react";
import type { RealtimeRun } from "@runfeed/sdk";
import { memo } from "react";
import { ProgressBar, RelativeTime, StatusBadge, Tag } from "../ui";
import { formatCost, formatDuration, metadataProgress, runDurationMs } from "./format";

export function RunsTable({
  runs,
  now,
  runHref,
}: {
  runs: readonly RealtimeRun[];
  now: number;
  runHref: (run: RealtimeRun) => string;
}) {
  return (
    <div className="table-wrap">
      <table className="table runs-table">
        <thead>
          <tr>
            <th>Run</th>
            <th>Status</th>
            <th>Task</th>
            <th className="col-tags">Tags</th>
            <th>Created</th>
            <th className="num">Duration</th>
            <th className="num col-cost">Cost</th>
          </tr>
        </thead>
        <tbody>
          {runs.map((run) => (
            <RunRow
              key={run.id}
              run={run}
              now={isRunning(run) || now - run.createdAt.getTime() < 3_600_000 ? now : 0}
              href={runHref(run)}
            />
          ))}
        </tbody>
      </table>
    </div>
  );
}

const isRunning = (run: RealtimeRun) => run.startedAt !== undefined && run.finishedAt === undefined;

const RunRow = memo(function RunRow({ run, now, href }: { run: RealtimeRun; now: number; href: string }) {
  const status = run.status;
  const progress = metadataProgress(run.metadata);
  const processed = run.metadata?.processed;
  const total = run.metadata?.total;
  const clock = now || Date.now();
  return (
    <tr data-run-id={run.id} data-status={status} data-updated-at={run.updatedAt.getTime()}>
      <td>
        <Link to={href} className="mono run-link">
          {run.id}
        </Link>
      </td>
      <td>
        <span key={run.status} className="flash">
          <StatusBadge status={status} />
        </span>
      </td>
      <td>
        <div className="task-cell">
          <span className="task-name">{run.taskIdentifier}</span>
          {progress !== undefined ? (
            <ProgressBar
              compact
              value={progress}
              label={typeof processed === "number" && typeof total === "number" ? `${processed}/${total}` : undefined}
            />
          ) : null}
        </div>
      </td>
      <td className="col-tags">
        <div className="tags">
          {run.tags.slice(0, 3).map((tag) => (
            <Tag key={tag}>{tag}</Tag>
          ))}
          {run.tags.length > 3 ? <span className="muted">+{run.tags.length - 3}</span> : null}
        </div>
      </td>
      <td className="nowrap">
        <RelativeTime ms={run.createdAt.getTime()} now={clock} />
      </td>
      <td className="num mono">{formatDuration(runDurationMs(run, clock))}</td>
      <td className="num mono col-cost">{formatCost(run.costInCents + run.baseCostInCents)}</td>
    </tr>
  );
});
