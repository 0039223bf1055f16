/**
 * Programmatic entry: `startShapeServer(config)` wires storage, slot, replication, registry and
 * HTTP, and returns `{url, port, stop()}`. The HTTP server listens first (health says `waiting`
 * while another instance holds the slot's advisory lock).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import pino, { type Logger } from "pino";
import { CONFIG_DEFAULTS, type ShapeServerConfig } from "./env.js";
import { lookupTable, type TableInfo } from "./pg/catalog.js";
import { loadWhereParser } from "./where/where-clause.js";
import type { ShapeStorage } from "./shapes/storage.js";
import { SqliteShapeStorage } from "./shapes/sqlite-storage.js";
import { ShapeRegistry } from "./shapes/registry.js";
import { SlotManager } from "./replication/slot.js";
import { ReplicationStream } from "./replication/stream.js";
import { TransactionAssembler } from "./replication/ingest.js";
import { publicationName, slotName } from "./replication/names.js";
import { PublishedTables } from "./replication/published-tables.js";
import { LiveWaits } from "./http/live.js";
import { ShapeApi } from "./http/shape-handler.js";
import { createRouter } from "./http/router.js";
import { createMetrics } from "./metrics.js";

export interface ShapeServer {
  url: string;
  port: number;
  /** Resolves when replication is running and `/v1/health` is active. */
  ready: Promise<void>;
  registry(): ShapeRegistry | undefined;
  stop(): Promise<void>;
}

export type ShapeServerOptions = Partial<ShapeServerConfig> & Pick<ShapeServerConfig, "databaseUrl" | "storageDir">;

export async function startShapeServer(options: ShapeServerOptions, logger?: Logger): Promise<ShapeServer> {
  const config: ShapeServerConfig = {
    ...CONFIG_DEFAULTS,
    maxConcurrentRequests: { ...CONFIG_DEFAULTS.maxConcurrentRequests },
    ...options,
  };
  const log = logger ?? pino({ level: config.logLevel, name: "shape-sync" });
  let status: "waiting" | "starting" | "active" = "waiting";
  let api: ShapeApi | undefined;
  let registry: ShapeRegistry | undefined;
  let waits: LiveWaits | undefined;
  let stopped = false;
  /** False while the replication stream is down and being restarted (long-poll timeouts answer 503). */
  let replicating = false;

  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8, application_name: "shape-sync" });
  pool.on("error", (err) => log.warn({ err }, "idle pool connection error"));
  const slot = new SlotManager(
    config.databaseUrl,
    slotName(config.replicationStreamId),
    publicationName(config.replicationStreamId),
  );
  let storage: ShapeStorage | undefined;
  let stream: ReplicationStream | undefined;

  const metrics = createMetrics({
    slotLagBytes: () => slot.lagBytes(pool),
    shapes: () => registry?.catalog.size ?? 0,
    liveWaiters: () => waits?.waiting ?? 0,
    changesApplied: () => registry?.router.changesApplied ?? 0,
    entriesWritten: () => registry?.router.entriesWritten ?? 0,
    compactions: () => registry?.compaction.runs ?? 0,
    messagesFolded: () => registry?.compaction.messagesFolded ?? 0,
  });

  const router = createRouter({ config, logger: log, status: () => status, api: () => api, metrics });
  const server: Server = createServer((req, res) => void router(req, res));
  server.keepAliveTimeout = 65_000;
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    // A large backlog: after a restart every waiting client reconnects at once.
    server.listen({ port: config.port, host: config.host ?? "127.0.0.1", backlog: 8192 }, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `http://${config.host && config.host !== "0.0.0.0" ? config.host : "127.0.0.1"}:${port}`;
  log.info({ port }, "http listening");

  // Tables in the publication, per shape (re-checked after a schema change, dropped when unused).
  const tables = new PublishedTables(slot, pool, config.unpublishDelayMs, log);
  // Table metadata cache, dropped when a Relation message shows a change.
  // Concurrent misses share one lookup (a restart brings thousands of requests at once).
  const tableCache = new Map<string, { info: Promise<TableInfo | undefined>; at: number }>();
  const loadTable = (schema: string, table: string): Promise<TableInfo | undefined> => {
    const key = `${schema}.${table}`;
    const hit = tableCache.get(key);
    if (hit && Date.now() - hit.at < 5_000) return hit.info;
    const info = lookupTable(pool, schema, table);
    tableCache.set(key, { info, at: Date.now() });
    info.catch(() => tableCache.delete(key));
    return info;
  };

  const startReplication = async (reg: ShapeRegistry): Promise<void> => {
    const assembler = new TransactionAssembler(reg.router);
    const s = new ReplicationStream({
      connectionString: config.databaseUrl,
      slot: slot.slot,
      publication: slot.publication,
      onMessage: (msg) => assembler.onMessage(msg),
      wantsRelation: (oid) => reg.router.hasShapesOn(oid),
      onKeepalive: (walEnd) => {
        if (!assembler.inTransaction) {
          reg.router.advanceGlobal(walEnd);
          s.acknowledge(walEnd);
        }
      },
    });
    s.on("error", (err: Error) => {
      if (stopped) return;
      replicating = false;
      log.error({ err: err.message }, "replication stream failed; restarting");
      void s.stop().then(() => restart(reg));
    });
    stream = s;
    // A killed predecessor's walsender can hold the slot for a moment ("is active for PID"): retry.
    for (let attempt = 0; ; attempt++) {
      try {
        await s.start();
        replicating = true;
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (stopped || code !== "55006" || attempt >= 60) throw err;
        log.warn({ err: (err as Error).message }, "replication slot busy; retrying");
        await new Promise((r) => setTimeout(r, 250));
        s.reset();
      }
    }
  };

  const restart = async (reg: ShapeRegistry): Promise<void> => {
    let delay = 500;
    while (!stopped) {
      try {
        const st = await slot.ensureSlot(pool);
        if (st.created) {
          log.warn("replication slot was lost; invalidating every shape");
          reg.reset("replication slot lost");
        }
        await startReplication(reg);
        return;
      } catch (err) {
        log.error({ err: (err as Error).message }, "replication restart failed");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  };

  const ready = (async () => {
    log.info({ slot: slot.slot }, "waiting for the slot's advisory lock");
    await slot.acquireLock();
    if (stopped) return;
    status = "starting";
    await loadWhereParser();
    const store = new SqliteShapeStorage(config.storageDir, config.sqliteCacheMb, config.sqliteSynchronous);
    storage = store;
    const pub = await slot.ensurePublication(pool);
    const st = await slot.ensureSlot(pool);
    log.info(
      { slot: slot.slot, publication: slot.publication, slotCreated: st.created, publicationCreated: pub.created },
      "replication slot and publication ready",
    );
    if (st.created && store.listShapes().length > 0) {
      log.warn("replication slot did not exist; stored shapes are invalid and were dropped");
      store.reset();
    }
    const reg = new ShapeRegistry({
      storage: store,
      pool,
      tables,
      chunkBytes: config.chunkBytesThreshold,
      compactionThresholdBytes: config.compactionThresholdBytes,
      logger: log,
      onAppliedLsn: (lsn) => stream?.acknowledge(lsn),
      onTableChanged: () => {
        tableCache.clear();
        tables.forget();
        api?.clearCompiled();
      },
    });
    const t0 = Date.now();
    const rec = await reg.catalog.recover((schema, table) => lookupTable(pool, schema, table));
    log.info(
      {
        recovered: rec.recovered,
        dropped: rec.dropped,
        ms: Date.now() - t0,
        appliedLsn: reg.router.appliedLsn.toString(),
      },
      "recovered shapes",
    );
    registry = reg;
    waits = new LiveWaits(reg.reader);
    api = new ShapeApi({ config, registry: reg, waits, lookupTable: loadTable, pool, healthy: () => replicating });
    await startReplication(reg);
    status = "active";
    log.info({ url }, "shape server active");
  })();
  ready.catch((err) => log.error({ err }, "shape server failed to start"));

  return {
    url,
    port,
    ready,
    registry: () => registry,
    async stop() {
      if (stopped) return;
      stopped = true;
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await stream?.stop();
      await slot.releaseLock();
      await ready.catch(() => undefined);
      await stream?.stop();
      tables.stop();
      storage?.close();
      await pool.end().catch(() => undefined);
    },
  };
}
