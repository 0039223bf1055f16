/** Prometheus metrics at /metrics (own registry so several servers can live in one process). */
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";

export interface MetricSources {
  slotLagBytes: () => Promise<number | undefined>;
  shapes: () => number;
  liveWaiters: () => number;
  changesApplied: () => number;
  entriesWritten: () => number;
  compactions: () => number;
  messagesFolded: () => number;
}

export function createMetrics(src: MetricSources, defaults = true): Registry {
  const registry = new Registry();
  if (defaults) collectDefaultMetrics({ register: registry });
  new Gauge({
    name: "shape_sync_replication_slot_lag_bytes",
    help: "Bytes of WAL between pg_current_wal_lsn() and the slot's confirmed_flush_lsn",
    registers: [registry],
    async collect() {
      const v = await src.slotLagBytes().catch(() => undefined);
      if (v !== undefined) this.set(v);
    },
  });
  const simple = (name: string, help: string, fn: () => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(fn());
      },
    });
  simple("shape_sync_shapes", "Shapes held by this server", src.shapes);
  simple("shape_sync_live_waiters", "Live requests currently waiting", src.liveWaiters);
  simple("shape_sync_changes_applied_total", "Replicated row changes processed", src.changesApplied);
  simple("shape_sync_log_entries_written_total", "Shape log entries written", src.entriesWritten);
  simple("shape_sync_compactions_total", "Shape log compactions run", src.compactions);
  simple(
    "shape_sync_compaction_folded_messages_total",
    "Update messages folded into a later update of the same key by compaction",
    src.messagesFolded,
  );
  return registry;
}
