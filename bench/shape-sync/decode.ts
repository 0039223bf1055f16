/**
 * (1b) pgoutput decoding in Node, ours beside pg-logical-replication's, on the same WAL (ADR 033):
 * N row updates of TaskRun (REPLICA IDENTITY FULL, so old and new tuples), read once from a slot
 * created before the writes with `pg_logical_slot_peek_binary_changes` (the payloads a replication
 * connection receives), then decoded from memory by each decoder, best of three passes.
 * Raw limits in the same run: Postgres decoding the same WAL server-side (the peek, counted), and the
 * library's plugin "counting messages, doing nothing else" (measuring.md), both as shipped (values
 * through node-postgres' type parsers) and with its parsers replaced by the identity (text values,
 * as ours keeps them: the like-for-like figure).
 */
import pg from "pg";
import { PgoutputPlugin, type Pgoutput } from "pg-logical-replication";
import { PgoutputDecoder } from "../../apps/shape-sync/src/replication/pgoutput.js";
import { seedRuns } from "./common.js";

export interface DecodeResult {
  updates: number;
  messages: number;
  walMB: number;
  /** Row changes per second. */
  ours: number;
  libraryText: number;
  libraryTyped: number;
  server: number;
}

const SLOT = "bench_decode";
const PUBLICATION = "bench_decode_pub";

/** Best of three passes over the messages, as row changes per second. */
function rate(changes: number, pass: () => void): number {
  pass(); // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    pass();
    best = Math.min(best, performance.now() - t0);
  }
  return changes / (best / 1000);
}

export async function benchDecode(databaseUrl: string, updates: number): Promise<DecodeResult> {
  const db = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  const rows = Math.min(updates, 20_000);
  try {
    await seedRuns(db, "dec_", rows, () => "dec_env");
    await db.query(`ALTER TABLE "TaskRun" REPLICA IDENTITY FULL`);
    await db.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await db.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE "TaskRun"`);
    await db.query(`SELECT pg_drop_replication_slot('${SLOT}') FROM pg_replication_slots WHERE slot_name = '${SLOT}'`);
    await db.query(`SELECT pg_create_logical_replication_slot('${SLOT}', 'pgoutput')`);
    const ids = Array.from({ length: rows }, (_, i) => `dec_${i}`);
    for (let done = 0; done < updates; done += 1000) {
      const batch = Array.from({ length: Math.min(1000, updates - done) }, (_, k) => ids[(done + k) % rows]!);
      await db.query(
        `UPDATE "TaskRun" SET "updatedAt" = now(), "usageDurationMs" = "usageDurationMs" + 1 WHERE id = ANY($1)`,
        [batch],
      );
    }
    const options = `'proto_version', '1', 'publication_names', '${PUBLICATION}'`;
    const peek = `pg_logical_slot_peek_binary_changes('${SLOT}', NULL, NULL, ${options})`;
    const t0 = performance.now();
    await db.query(`SELECT count(*) FROM ${peek}`);
    const server = updates / ((performance.now() - t0) / 1000);
    const wal = (await db.query<{ data: Buffer }>(`SELECT data FROM ${peek}`)).rows.map((r) => r.data);

    const ours = rate(updates, () => {
      const decoder = new PgoutputDecoder();
      for (const buf of wal) decoder.decode(buf);
    });
    const library = (text: boolean) =>
      rate(updates, () => {
        const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [PUBLICATION] });
        for (const buf of wal) {
          const msg = plugin.parse(buf) as Pgoutput.Message;
          if (text && msg.tag === "relation") for (const c of msg.columns) c.parser = (raw: unknown) => raw;
        }
      });
    const libraryText = library(true);
    const libraryTyped = library(false);
    const walMB = wal.reduce((n, b) => n + b.length, 0) / 1048576;
    return { updates, messages: wal.length, walMB, ours, libraryText, libraryTyped, server };
  } finally {
    await db.query(`SELECT pg_drop_replication_slot('${SLOT}') FROM pg_replication_slots WHERE slot_name = '${SLOT}'`);
    await db.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
    await db.end();
  }
}
