/** Small presentational pieces shared by the dashboard pages. */
import { startTransition, useEffect, useState, type ReactNode } from "react";
import type { PublicRunStatus } from "@runfeed/core";
import { formatRelative, formatTimestamp, statusTone } from "./runs/format";

/**
 * A clock that ticks every `intervalMs` in the browser. It starts at `initial` (the loader's clock)
 * so the server's HTML and the first client render agree, then moves to the browser's time.
 */
export function useNow(intervalMs = 1000, initial?: number): number {
  const [now, setNow] = useState(() => initial ?? Date.now());
  useEffect(() => {
    // A transition: re-rendering every clock-driven cell is interruptible, so live updates go first.
    const tick = () => startTransition(() => setNow(Date.now()));
    tick();
    const timer = setInterval(tick, intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

const STATUS_LABEL: Partial<Record<PublicRunStatus, string>> = {
  QUEUED: "Queued",
  EXECUTING: "Executing",
  DEQUEUED: "Dequeued",
  WAITING: "Waiting",
  COMPLETED: "Completed",
  FAILED: "Failed",
  CANCELED: "Canceled",
  CRASHED: "Crashed",
  SYSTEM_FAILURE: "System failure",
  EXPIRED: "Expired",
  TIMED_OUT: "Timed out",
  DELAYED: "Delayed",
  PENDING_VERSION: "Pending version",
};

export const statusLabel = (status: PublicRunStatus) => STATUS_LABEL[status] ?? status;

export function StatusBadge({ status }: { status: PublicRunStatus }) {
  const tone = statusTone(status);
  return (
    <span className={`status status-${tone}`} data-status={status}>
      <span className="status-dot" aria-hidden />
      {statusLabel(status)}
    </span>
  );
}

/** A native <progress> (no inline style attribute, which the CSP's style-src does not allow). */
export function ProgressBar({ value, label, compact }: { value: number; label?: string; compact?: boolean }) {
  const percent = Math.round(value * 100);
  return (
    <div className={compact ? "progress progress-compact" : "progress"}>
      <progress className="progress-track" max={100} value={percent} aria-label={label ?? "Progress"}>
        {percent}%
      </progress>
      <span className="progress-label">{label ?? `${percent}%`}</span>
    </div>
  );
}

export function RelativeTime({ ms, now }: { ms: number; now: number }) {
  return (
    <time dateTime={new Date(ms).toISOString()} title={formatTimestamp(ms)} suppressHydrationWarning>
      {formatRelative(ms, now)}
    </time>
  );
}

export function Tag({ children }: { children: ReactNode }) {
  return <span className="tag">{children}</span>;
}

export function LiveIndicator({
  state,
  label,
}: {
  state: "connecting" | "live" | "reconnecting" | "off";
  label?: string;
}) {
  const text = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…", off: label ?? "Paused" }[
    state
  ];
  return (
    <span className={`live live-${state}`} data-live-state={state}>
      <span className="live-dot" aria-hidden />
      {text}
    </span>
  );
}

export function CopyButton({ value, label = "Copy" }: { value: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      className="button button-ghost button-small"
      onClick={() => {
        void navigator.clipboard?.writeText(value).then(() => {
          setCopied(true);
          setTimeout(() => setCopied(false), 1500);
        });
      }}
    >
      {copied ? "Copied" : label}
    </button>
  );
}

export function PageHeader({
  title,
  subtitle,
  actions,
}: {
  title: ReactNode;
  subtitle?: ReactNode;
  actions?: ReactNode;
}) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {subtitle ? <p className="muted">{subtitle}</p> : null}
      </div>
      {actions ? <div className="page-actions">{actions}</div> : null}
    </header>
  );
}

/** Pretty JSON (or the raw text when it is not JSON). */
export function CodeBlock({ value, empty = "–" }: { value: unknown; empty?: string }) {
  if (value === undefined || value === null || value === "") return <p className="muted">{empty}</p>;
  let text: string;
  if (typeof value === "string") {
    try {
      text = JSON.stringify(JSON.parse(value), null, 2);
    } catch {
      text = value;
    }
  } else {
    text = JSON.stringify(value, null, 2);
  }
  return <pre className="code">{text}</pre>;
}
