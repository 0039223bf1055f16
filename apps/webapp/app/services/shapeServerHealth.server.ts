/**
 * The realtime page's view of the shape server: its /v1/health status and the figures of its
 * /metrics (Prometheus text, from apps/shape-sync or Electric) that speak of shapes, subscribers and
 * replication.
 */
import parsePrometheusTextFormat from "parse-prometheus-text-format";

export interface ShapeServerHealth {
  origin: string;
  status: "active" | "starting" | "unreachable" | string;
  /** Headline numbers, when the server reports them (names as exported by apps/shape-sync). */
  summary: { shapes?: number; subscribers?: number; replicationLagBytes?: number };
  /** Prometheus samples whose names mention shapes, subscribers, lag or replication. */
  metrics: Array<{ name: string; labels: string; value: number }>;
  error?: string;
}

const INTERESTING_METRIC = /shape|subscriber|waiter|replication|slot|wal|lsn/i;
const sumOf = (samples: ShapeServerHealth["metrics"], pattern: RegExp) => {
  const matching = samples.filter((sample) => pattern.test(sample.name));
  return matching.length ? matching.reduce((sum, sample) => sum + sample.value, 0) : undefined;
};

export async function shapeServerHealth(origin: string, timeoutMs = 2000): Promise<ShapeServerHealth> {
  const get = (path: string) => fetch(new URL(path, origin), { signal: AbortSignal.timeout(timeoutMs) });
  let status: ShapeServerHealth["status"] = "unreachable";
  let error: string | undefined;
  try {
    const response = await get("/v1/health");
    const body = (await response.json().catch(() => ({}))) as { status?: string };
    status = body.status ?? (response.ok ? "active" : `HTTP ${response.status}`);
  } catch (cause) {
    error = (cause as Error).message;
    return { origin, status, summary: {}, metrics: [], error };
  }
  let metrics: ShapeServerHealth["metrics"] = [];
  try {
    const response = await get("/metrics");
    if (response.ok)
      metrics = parsePrometheus(await response.text()).filter((sample) => INTERESTING_METRIC.test(sample.name));
    else error = `/metrics answered ${response.status}`;
  } catch (cause) {
    error = `/metrics: ${(cause as Error).message}`;
  }
  const summary = {
    shapes: sumOf(metrics, /^(shape_sync_shapes|electric_shapes_total_shapes|.*_shapes)$/),
    subscribers: sumOf(metrics, /(subscribers?|live_waiters|active_requests)$/),
    replicationLagBytes: sumOf(metrics, /(slot_lag_bytes|replication_lag_bytes|replication_slot_lag)$/),
  };
  // Runfeed's own metrics first, then the rest by name.
  metrics.sort(
    (a, b) =>
      Number(!a.name.startsWith("shape_sync")) - Number(!b.name.startsWith("shape_sync")) ||
      a.name.localeCompare(b.name),
  );
  return { origin, status, summary, metrics, error };
}

/**
 * Prometheus text exposition (parsed by parse-prometheus-text-format) → samples: counters, gauges and
 * untyped values, a summary's quantiles, and the `_sum` and `_count` of histograms and summaries (not
 * their buckets).
 */
export function parsePrometheus(text: string): Array<{ name: string; labels: string; value: number }> {
  const samples: Array<{ name: string; labels: string; value: number }> = [];
  const add = (name: string, labels: Record<string, string> | undefined, raw: string | undefined) => {
    const value = Number(raw);
    if (raw === undefined || !Number.isFinite(value)) return;
    const pairs = Object.entries(labels ?? {}).map(([key, v]) => `${key}=${JSON.stringify(v)}`);
    samples.push({ name, labels: pairs.length ? `{${pairs.join(",")}}` : "", value });
  };
  for (const family of parsePrometheusTextFormat(text)) {
    for (const sample of family.metrics) {
      if (family.type !== "HISTOGRAM" && family.type !== "SUMMARY") {
        add(family.name, sample.labels, sample.value);
        continue;
      }
      for (const [quantile, value] of Object.entries(sample.quantiles ?? {}))
        add(family.name, { ...sample.labels, quantile }, value);
      add(`${family.name}_sum`, sample.labels, sample.sum);
      add(`${family.name}_count`, sample.labels, sample.count);
    }
  }
  return samples;
}
