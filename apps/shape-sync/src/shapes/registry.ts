/**
 * The shape layer, put together: the catalog (which shapes exist: create, recover, drop), the change
 * router (replicated transactions into their logs, with the match index), the log reader and the
 * compaction scheduler, over one ShapeStorage. Each part has one job; this only wires them.
 */
import type pg from "pg";
import type { Logger } from "pino";
import type { PublishedTables } from "../replication/published-tables.js";
import { ChangeRouter } from "./change-router.js";
import { CompactionScheduler } from "./compaction-scheduler.js";
import { ShapeLogReader } from "./log-reader.js";
import { ShapeCatalog } from "./shape-catalog.js";
import type { ShapeStorage } from "./storage.js";

export interface RegistryDeps {
  storage: ShapeStorage;
  pool: pg.Pool;
  tables: Pick<PublishedTables, "acquire" | "retain" | "release">;
  chunkBytes: number;
  /** Replicated bytes per shape between compactions; 0 disables compaction. */
  compactionThresholdBytes: number;
  logger: Logger;
  onAppliedLsn: (lsn: bigint) => void;
  /** A table's columns changed (cached table metadata is stale). */
  onTableChanged?: (oid: number) => void;
}

export class ShapeRegistry {
  readonly catalog: ShapeCatalog;
  readonly router: ChangeRouter;
  readonly reader: ShapeLogReader;
  readonly compaction: CompactionScheduler;

  constructor(private readonly deps: RegistryDeps) {
    const { storage, logger } = deps;
    this.compaction = new CompactionScheduler({ storage, logger, thresholdBytes: deps.compactionThresholdBytes });
    this.router = new ChangeRouter({
      storage,
      chunkBytes: deps.chunkBytes,
      compaction: this.compaction,
      invalidate: (shape, reason) => this.catalog.invalidate(shape, reason),
      onTableChanged: (oid) => deps.onTableChanged?.(oid),
      onAppliedLsn: deps.onAppliedLsn,
    });
    this.catalog = new ShapeCatalog({
      storage,
      pool: deps.pool,
      tables: deps.tables,
      router: this.router,
      chunkBytes: deps.chunkBytes,
      logger,
    });
    this.reader = new ShapeLogReader(storage, deps.chunkBytes);
  }

  /** Drops every shape and the replication progress (the slot was lost). */
  reset(reason: string): void {
    this.catalog.invalidateAll(reason);
    this.deps.storage.reset();
    this.router.restart();
  }
}
