/** Prometheus metrics of the webapp: one registry per app instance, exposed at /metrics. */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export function createMetrics() {
  const registry = new Registry();
  // Gauges read when scraped, from whoever owns the figure (set by that owner; nothing on the hot path).
  const sources = {
    upstreamWaiting: () => 0,
    upstreamSharedPolls: () => 0,
    upstreamEventStreamClients: () => 0,
    nativeQueries: () => 0,
    nativeWorkingSets: () => 0,
    /** Live realtime requests in flight on this instance, by environment id (the limiter's own count). */
    realtimeConcurrent: (): ReadonlyMap<string, number> => new Map(),
  };
  collectDefaultMetrics({ register: registry, prefix: "runfeed_webapp_" });
  // API requests are counted here and handed to prom-client when the counter is read: its labelled
  // inc (a label hash built per call) cost a realtime re-poll more than the rest of its metrics.
  const requestCounts = new Map<string, Map<number, number>>();
  const httpRequests = new Counter({
    name: "runfeed_http_requests_total",
    help: "API requests by route and status",
    labelNames: ["route", "status"] as const,
    registers: [registry],
    collect() {
      for (const [route, byStatus] of requestCounts) {
        for (const [status, count] of byStatus) this.inc({ route, status: String(status) }, count);
      }
      requestCounts.clear();
    },
  });
  return {
    registry,
    sources,
    /** Read it (and so its pending counts) through the registry; count with countRequest. */
    httpRequests,
    /** Counts one API request in runfeed_http_requests_total. */
    countRequest(route: string, status: number) {
      let byStatus = requestCounts.get(route);
      if (!byStatus) requestCounts.set(route, (byStatus = new Map()));
      byStatus.set(status, (byStatus.get(status) ?? 0) + 1);
    },
    httpDuration: new Histogram({
      name: "runfeed_http_request_duration_seconds",
      help: "API request duration by route (for live requests: time to response headers)",
      labelNames: ["route"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
      registers: [registry],
    }),
    realtimeConcurrent: new Gauge({
      name: "runfeed_realtime_concurrent_requests",
      help: "Live realtime requests in flight per environment (this instance)",
      labelNames: ["environment"] as const,
      registers: [registry],
      collect() {
        for (const [environment, count] of sources.realtimeConcurrent()) this.set({ environment }, count);
      },
    }),
    realtimeUpstreamWaiting: new Gauge({
      name: "runfeed_realtime_upstream_waiting_requests",
      help: "Realtime requests waiting for the shape server's answer (this instance; shared live polls count each client)",
      registers: [registry],
      collect() {
        this.set(sources.upstreamWaiting());
      },
    }),
    realtimeSharedPolls: new Gauge({
      name: "runfeed_realtime_upstream_shared_polls",
      help: "Live long-polls to the shape server shared by several clients, in flight (this instance)",
      registers: [registry],
      collect() {
        this.set(sources.upstreamSharedPolls());
      },
    }),
    realtimeEventStreamClients: new Gauge({
      name: "runfeed_realtime_upstream_event_stream_clients",
      help: "Clients on an event stream from the shape server (this instance; shared streams count each client)",
      registers: [registry],
      collect() {
        this.set(sources.upstreamEventStreamClients());
      },
    }),
    realtimeRejected: new Counter({
      name: "runfeed_realtime_rejected_total",
      help: "Live realtime requests refused by the concurrency limit",
      labelNames: ["environment"] as const,
      registers: [registry],
    }),
    streamChunksWritten: new Counter({
      name: "runfeed_stream_chunks_written_total",
      help: "Realtime stream chunks stored in Redis",
      registers: [registry],
    }),
    streamChunksArchived: new Counter({
      name: "runfeed_stream_chunks_archived_total",
      help: "Realtime stream chunks copied to the Postgres archive",
      registers: [registry],
    }),
    streamReaders: new Gauge({
      name: "runfeed_stream_readers",
      help: "Open realtime stream readers (SSE) on this instance",
      registers: [registry],
    }),
    limiterRedisErrors: new Counter({
      name: "runfeed_realtime_limiter_redis_errors_total",
      help: "Limiter calls that failed because Redis was unreachable (policy decides admit/refuse)",
      registers: [registry],
    }),
    // --- write pipeline (docs/decisions/092-write-pipeline.md)
    pipelineDepth: new Gauge({
      name: "runfeed_write_pipeline_depth",
      help: "Entries queued in a write-pipeline stream (class and partition), not yet applied",
      labelNames: ["stream"] as const,
      registers: [registry],
    }),
    pipelineOldestAge: new Gauge({
      name: "runfeed_write_pipeline_oldest_entry_age_seconds",
      help: "Age of the oldest queued entry of a write-pipeline stream",
      labelNames: ["stream"] as const,
      registers: [registry],
    }),
    pipelineAccepted: new Counter({
      name: "runfeed_write_pipeline_accepted_total",
      help: "Items (metadata updates of one run, log lines) appended to the write pipeline by this instance",
      labelNames: ["class"] as const,
      registers: [registry],
    }),
    pipelineApplied: new Counter({
      name: "runfeed_write_pipeline_applied_total",
      help: "Metadata operations / log lines written to Postgres by this instance's drain",
      labelNames: ["class"] as const,
      registers: [registry],
    }),
    pipelineRows: new Counter({
      name: "runfeed_write_pipeline_rows_written_total",
      help: "Rows written by the drain (applied ÷ rows = coalescing ratio)",
      labelNames: ["class"] as const,
      registers: [registry],
    }),
    pipelineDropped: new Counter({
      name: "runfeed_write_pipeline_dropped_total",
      help: "Buffered operations/lines the drain could not apply (unknown run, completed run, too large)",
      labelNames: ["class", "reason"] as const,
      registers: [registry],
    }),
    pipelineRefused: new Counter({
      name: "runfeed_write_pipeline_refused_total",
      help: "Batched requests refused with 429 by backpressure",
      labelNames: ["class"] as const,
      registers: [registry],
    }),
    pipelineApplySeconds: new Histogram({
      name: "runfeed_write_pipeline_apply_seconds",
      help: "Duration of one drain batch transaction",
      labelNames: ["class"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers: [registry],
    }),
    pipelineLagSeconds: new Histogram({
      name: "runfeed_write_pipeline_lag_seconds",
      help: "Accept → commit of the oldest entry of each drain batch",
      labelNames: ["class"] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    // --- native realtime backend (docs/decisions/073-realtime-notifier-backend.md)
    realtimeNativeQueries: new Gauge({
      name: "runfeed_realtime_native_queries",
      help: "Statements the native realtime backend ran against Postgres since start (this instance)",
      registers: [registry],
      collect() {
        this.set(sources.nativeQueries());
      },
    }),
    realtimeNativeWorkingSets: new Gauge({
      name: "runfeed_realtime_native_working_sets",
      help: "Native tag and batch feeds held resumable (this instance)",
      registers: [registry],
      collect() {
        this.set(sources.nativeWorkingSets());
      },
    }),
    realtimeShadowComparisons: new Counter({
      name: "runfeed_realtime_shadow_comparisons_total",
      help: "Shadow mode: feed answers computed by both backends and compared",
      labelNames: ["feed"] as const,
      registers: [registry],
    }),
    realtimeShadowDifferences: new Counter({
      name: "runfeed_realtime_shadow_differences_total",
      help: "Shadow mode: rows on which the native backend's answer differed from the shape server's",
      labelNames: ["feed"] as const,
      registers: [registry],
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
