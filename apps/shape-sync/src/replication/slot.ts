/**
 * Slot and publication management on a regular connection (§9.1): the per-slot advisory lock
 * (a second instance waits here), publication creation/reuse, slot creation/reuse, adding tables
 * with REPLICA IDENTITY FULL and dropping them, and the slot lag query.
 */
import { lsnToBigInt } from "@runfeed/core";
import pg from "pg";
import { quoteIdent } from "../pg/identifiers.js";

export interface SlotState {
  /** True when the slot did not exist and was created now (any stored shapes are invalid). */
  created: boolean;
  confirmedFlushLsn: bigint | undefined;
}

export class SlotManager {
  private lockClient: pg.Client | undefined;

  constructor(
    private readonly connectionString: string,
    readonly slot: string,
    readonly publication: string,
  ) {}

  /** Blocks until this process holds `pg_advisory_lock(hashtext(slot))`; the lock lives as long as the connection. */
  async acquireLock(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString, application_name: "shape-sync-lock" });
    client.on("error", () => undefined);
    await client.connect();
    this.lockClient = client;
    await client.query("SELECT pg_advisory_lock(hashtext($1))", [this.slot]);
  }

  async ensurePublication(db: pg.Pool): Promise<{ created: boolean }> {
    const existing = await db.query("SELECT 1 FROM pg_publication WHERE pubname = $1", [this.publication]);
    if (existing.rowCount) return { created: false };
    try {
      await db.query(`CREATE PUBLICATION ${quoteIdent(this.publication)}`);
      return { created: true };
    } catch (e) {
      if ((e as { code?: string }).code === "42710") return { created: false };
      throw e;
    }
  }

  async ensureSlot(db: pg.Pool): Promise<SlotState> {
    const r = await db.query<{ lsn: string | null; database: string | null; mine: boolean }>(
      `SELECT confirmed_flush_lsn::text AS lsn, database, database = current_database() AS mine
       FROM pg_replication_slots WHERE slot_name = $1`,
      [this.slot],
    );
    if (r.rowCount && !r.rows[0]!.mine)
      throw new Error(
        `replication slot ${this.slot} belongs to database ${r.rows[0]!.database}; ` +
          "slots are per cluster, so give each database its own ELECTRIC_REPLICATION_STREAM_ID",
      );
    if (r.rowCount)
      return { created: false, confirmedFlushLsn: r.rows[0]!.lsn ? lsnToBigInt(r.rows[0]!.lsn) : undefined };
    const c = await db.query<{ lsn: string }>(
      "SELECT lsn::text AS lsn FROM pg_create_logical_replication_slot($1, 'pgoutput')",
      [this.slot],
    );
    return { created: true, confirmedFlushLsn: lsnToBigInt(c.rows[0]!.lsn) };
  }

  async dropSlot(db: pg.Pool): Promise<void> {
    await db.query(
      "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active",
      [this.slot],
    );
  }

  /** Adds the table to the publication and sets REPLICA IDENTITY FULL if needed, in one transaction. */
  async ensureTablePublished(db: pg.Pool, schema: string, table: string): Promise<void> {
    const state = await db.query<{ published: boolean; replident: string; alltables: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_publication_tables
                      WHERE pubname = $1 AND schemaname = $2 AND tablename = $3) AS published,
              (SELECT c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname = $2 AND c.relname = $3) AS replident,
              (SELECT puballtables FROM pg_publication WHERE pubname = $1) AS alltables`,
      [this.publication, schema, table],
    );
    const s = state.rows[0]!;
    if (s.published && s.replident === "f") return;
    const client = await db.connect();
    try {
      await client.query("BEGIN");
      const rel = `${quoteIdent(schema)}.${quoteIdent(table)}`;
      if (!s.published && !s.alltables)
        await client.query(`ALTER PUBLICATION ${quoteIdent(this.publication)} ADD TABLE ${rel}`);
      if (s.replident !== "f") await client.query(`ALTER TABLE ${rel} REPLICA IDENTITY FULL`);
      await client.query("COMMIT");
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      if ((e as { code?: string }).code !== "42710") throw e; // already member (raced)
    } finally {
      client.release();
    }
  }

  /** Drops a table from the publication (not from a FOR ALL TABLES one); false when it was not a member. */
  async unpublishTable(db: pg.Pool, schema: string, table: string): Promise<boolean> {
    try {
      await db.query(
        `ALTER PUBLICATION ${quoteIdent(this.publication)} DROP TABLE ${quoteIdent(schema)}.${quoteIdent(table)}`,
      );
      return true;
    } catch (e) {
      const code = (e as { code?: string }).code;
      // 42704: not a member (or gone); 55000: FOR ALL TABLES publication; 42P01: table dropped.
      if (code === "42704" || code === "55000" || code === "42P01") return false;
      throw e;
    }
  }

  async lagBytes(db: pg.Pool): Promise<number | undefined> {
    const r = await db.query<{ lag: string | null }>(
      `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::text AS lag
       FROM pg_replication_slots WHERE slot_name = $1`,
      [this.slot],
    );
    const lag = r.rows[0]?.lag;
    return lag === undefined || lag === null ? undefined : Number(lag);
  }

  async releaseLock(): Promise<void> {
    const c = this.lockClient;
    this.lockClient = undefined;
    await c?.end().catch(() => undefined);
  }
}
