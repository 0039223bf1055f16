/**
 * Shape-log compaction: updates to one key in the older part of a log are folded into one, and
 * every reader — from the start, from an offset inside the compacted range, the official client —
 * still ends at exactly the table's state.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { Shape, ShapeStream } from "@electric-sql/client";
import { createHarness, fetchJson, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;
const THRESHOLD = 3_000;

beforeAll(async () => {
  h = await createHarness({ compactionThresholdBytes: THRESHOLD, longPollTimeoutMs: 1_000 });
  await h.pool.query(`CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL, note text)`);
  await h.pool.query(`INSERT INTO counters VALUES (1, 0, 'one'), (2, 0, 'two'), (3, 0, 'three')`);
});
afterAll(async () => h?.close());

type Row = Record<string, string | null>;
type Message = { key?: string; value?: Row; headers: { operation?: string; control?: string; last?: boolean } };

const shapeUrl = (q: string) => `${h.server.url}/v1/shape?table=counters&${q}`;

/** Applies change messages to a row map the way a client does. */
function apply(rows: Map<string, Row>, messages: Message[]): void {
  for (const m of messages) {
    if (!m.key || !m.value) continue;
    if (m.headers.operation === "delete") rows.delete(m.key);
    else rows.set(m.key, { ...rows.get(m.key), ...m.value });
  }
}

/** Reads non-live from `offset` until up-to-date; returns the change messages and the final offset. */
async function catchUp(handle: string, offset: string): Promise<{ messages: Message[]; offset: string }> {
  const messages: Message[] = [];
  for (;;) {
    const r = await fetchJson(shapeUrl(`handle=${handle}&offset=${offset}`));
    expect(r.status).toBe(200);
    messages.push(...(r.body as Message[]).filter((m) => m.key));
    offset = r.headers.get("electric-offset")!;
    if (r.headers.get("electric-up-to-date") !== null) return { messages, offset };
  }
}

async function tableState(): Promise<Map<string, Row>> {
  const r = await h.pool.query(`SELECT id::text, n::text, note FROM counters ORDER BY id`);
  return new Map(r.rows.map((row) => [`"public"."counters"/"${row.id}"`, { id: row.id, n: row.n, note: row.note }]));
}

/** Waits until the shape's log has caught up with the table (replication is asynchronous). */
async function waitReplicated(handle: string, from: string, base: Map<string, Row>): Promise<void> {
  const expected = await tableState();
  await vi.waitFor(
    async () => {
      const rows = new Map(base);
      apply(rows, (await catchUp(handle, from)).messages);
      expect(rows).toEqual(expected);
    },
    { timeout: 10_000, interval: 50 },
  );
}

async function waitForCompactions(n: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((h.server.registry()?.compaction.runs ?? 0) < n) {
    if (Date.now() > deadline) throw new Error(`no compaction ran (wanted ${n})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function updates(from: number, to: number): Promise<void> {
  for (let i = from; i < to; i++)
    await h.pool.query(`UPDATE counters SET n = $1, note = $2 WHERE id = $3`, [i, `note ${i}`, (i % 2) + 1]);
}

describe("shape log compaction", () => {
  it("folds update runs in the older log; readers from the start, from the middle and the official client all end at the table's state", async () => {
    const first = await fetchJson(shapeUrl("offset=-1"));
    const handle = first.headers.get("electric-handle")!;
    const snapshot = new Map<string, Row>();
    apply(snapshot, first.body as Message[]);
    const afterSnapshot = first.headers.get("electric-offset")!;

    // A client follows the first part of the changes, then goes away.
    await updates(0, 20);
    const early = await catchUp(handle, afterSnapshot);
    const earlyRows = new Map(snapshot);
    apply(earlyRows, early.messages);

    // Delete and re-insert one key in the middle: a run of updates never crosses them.
    await h.pool.query(`DELETE FROM counters WHERE id = 3`);
    await h.pool.query(`INSERT INTO counters VALUES (3, 100, 'back')`);
    await h.pool.query(`UPDATE counters SET n = 101 WHERE id = 3`);
    const changesWritten = 20 + 3;
    await updates(20, 140);
    await waitReplicated(handle, afterSnapshot, snapshot);
    await waitForCompactions(2);
    expect(h.server.registry()!.compaction.messagesFolded).toBeGreaterThan(0);

    // From the start: fewer messages than changes were made, same final state.
    const fromStart = await catchUp(handle, afterSnapshot);
    expect(fromStart.messages.length).toBeLessThan(changesWritten + 120);
    const rows = new Map(snapshot);
    apply(rows, fromStart.messages);
    expect(rows).toEqual(await tableState());
    // Key 3's delete and insert are still there, in order.
    const ops3 = fromStart.messages.filter((m) => m.key === `"public"."counters"/"3"`).map((m) => m.headers.operation);
    expect(ops3.slice(0, 2)).toEqual(["delete", "insert"]);

    // From an offset inside the compacted range: nothing after it is lost.
    const resumed = await catchUp(handle, early.offset);
    apply(earlyRows, resumed.messages);
    expect(earlyRows).toEqual(await tableState());

    // The official client, from scratch.
    const stream = new ShapeStream({
      url: `${h.server.url}/v1/shape`,
      params: { table: "counters" },
      subscribe: false,
    });
    const shape = new Shape(stream);
    const clientRows = await shape.rows;
    const expected = [...(await tableState()).values()].map((r) => ({
      id: Number(r.id),
      n: Number(r.n),
      note: r.note,
    }));
    expect(clientRows.sort((a, b) => (a.id as number) - (b.id as number))).toEqual(expected);
  });

  it("keeps the newest part of the log as it was written, and every transaction's last message marked", async () => {
    const first = await fetchJson(shapeUrl("offset=-1"));
    const handle = first.headers.get("electric-handle")!;
    const before = h.server.registry()!.compaction.runs;
    await updates(200, 320);
    const base = new Map<string, Row>();
    apply(base, first.body as Message[]);
    await waitReplicated(handle, first.headers.get("electric-offset")!, base);
    await waitForCompactions(before + 1);
    const { messages } = await catchUp(handle, first.headers.get("electric-offset")!);
    // Each single-row transaction left at most one message, and it ends its transaction.
    for (const m of messages) expect(m.headers.last).toBe(true);
    // The newest threshold's worth of updates is untouched: the last 10 updates are all there, in order.
    const tail = messages.slice(-10).map((m) => m.value!.n);
    expect(tail).toEqual(Array.from({ length: 10 }, (_, i) => String(310 + i)));
  });
});
