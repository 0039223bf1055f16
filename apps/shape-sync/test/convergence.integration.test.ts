/**
 * Convergence under seeded random writes: multi-statement transactions of updates that move rows in
 * and out of shapes, primary-key changes, deletes and upserts, against shapes with where clauses,
 * column lists and replica=full, with compaction running throughout and chunks small enough that
 * transactions span several stored rows. Every shape, followed live and
 * read from scratch at the end, must equal what Postgres returns for its definition.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHarness, fetchJson, prng, sseMessages, type ServerHarness } from "./fixtures.js";

let h: ServerHarness;

beforeAll(async () => {
  // Small chunks: multi-statement transactions span several stored rows, which compaction must keep consistent.
  h = await createHarness({ compactionThresholdBytes: 2_000, chunkBytesThreshold: 400, longPollTimeoutMs: 1_000 });
  await h.pool.query(`CREATE TABLE r (id int PRIMARY KEY, s text, k int, tags text[], note text)`);
  await h.pool.query(
    `INSERT INTO r SELECT g, (ARRAY['a','b','c'])[1 + g % 3], g % 5, ARRAY['t' || (g % 4)], 'n' || g FROM generate_series(1, 20) g`,
  );
});
afterAll(async () => h?.close());

interface Def {
  where?: string;
  columns?: string;
  replica?: "full";
}
interface Follower {
  def: Def;
  handle: string;
  offset: string;
  rows: Map<string, Record<string, unknown>>;
}

const defs: Def[] = [
  { where: "s = 'a'" },
  { where: "k IN (1, 2)" },
  { where: "tags @> ARRAY['t1']" },
  { where: "k > 2 AND s <> 'c'" },
  { where: "note LIKE 'n1%'" },
  { where: "s = 'a'", columns: "id,s" },
  { where: "k = 3", replica: "full" },
  {},
  { where: "s IS NULL OR k IS NULL" },
  { where: "id % 2 = 0", replica: "full", columns: "id,k,note" },
];

const url = (d: Def, rest: string) =>
  `${h.server.url}/v1/shape?table=r${d.where ? `&where=${encodeURIComponent(d.where)}` : ""}${d.columns ? `&columns=${d.columns}` : ""}${d.replica ? `&replica=${d.replica}` : ""}&${rest}`;

function apply(
  rows: Follower["rows"],
  messages: Array<{ key?: string; value?: Record<string, unknown>; headers: { operation?: string } }>,
): void {
  for (const m of messages) {
    if (!m.key) continue;
    if (m.headers.operation === "delete") rows.delete(m.key);
    else rows.set(m.key, { ...(m.headers.operation === "insert" ? {} : rows.get(m.key)), ...m.value });
  }
}

/** Non-live catch-up to up-to-date, as a client does. */
async function follow(f: Follower): Promise<void> {
  for (;;) {
    const r = await fetchJson(url(f.def, `handle=${f.handle}&offset=${f.offset}`));
    expect(r.status).toBe(200);
    apply(f.rows, r.body);
    f.offset = r.headers.get("electric-offset")!;
    if (r.headers.get("electric-up-to-date") !== null) return;
  }
}

/**
 * Follows a shape over SSE (live_sse) like the official client: events are applied as they arrive;
 * when the server ends a response (it does when data was already waiting), the next one resumes at
 * the last up-to-date's `<global_last_seen_lsn>_0`, or at the response's electric-offset without one.
 */
function followSse(f: Follower): { rows: Follower["rows"]; stop: () => void } {
  const rows = new Map(f.rows);
  const ac = new AbortController();
  void (async () => {
    let offset = f.offset;
    while (!ac.signal.aborted) {
      const res = await fetch(url(f.def, `handle=${f.handle}&offset=${offset}&live=true&live_sse=true`), {
        signal: ac.signal,
      });
      let resumeAt = res.headers.get("electric-offset")!;
      for await (const messages of sseMessages(res)) {
        apply(rows, messages);
        for (const m of messages)
          if (m.headers?.control === "up-to-date") resumeAt = `${m.headers.global_last_seen_lsn}_0`;
      }
      offset = resumeAt;
    }
  })().catch(() => undefined);
  return { rows, stop: () => ac.abort() };
}

const asText = (v: unknown) => (v === null ? null : Array.isArray(v) ? `{${v.join(",")}}` : String(v));
const normalize = (row: Record<string, unknown>) =>
  JSON.stringify(
    Object.entries(row)
      .map(([k, v]) => [k, asText(v)])
      .sort(),
  );

describe("convergence", () => {
  it("every shape equals Postgres after 200 random transactions, followed live and read from scratch", async () => {
    const followers: Follower[] = [];
    for (const def of defs) {
      const f: Follower = { def, handle: "", offset: "-1", rows: new Map() };
      const first = await fetchJson(url(def, "offset=-1"));
      f.handle = first.headers.get("electric-handle")!;
      f.offset = first.headers.get("electric-offset")!;
      apply(f.rows, first.body);
      await follow(f);
      followers.push(f);
    }
    // Two shapes are also followed over SSE, one stream each for the whole run.
    const sse = [followers[0]!, followers[6]!].map((f) => ({ def: f.def, ...followSse(f) }));
    const random = prng(42);
    const n = (k: number) => Math.floor(random() * k);
    const text = () => [null, "'a'", "'b'", "'c'"][n(4)];
    let nextId = 100;
    for (let i = 0; i < 200; i++) {
      const statements: string[] = [];
      for (let j = 0; j <= n(3); j++) {
        const id = 1 + n(25);
        const kind = n(10);
        if (kind < 5)
          statements.push(
            `UPDATE r SET ${[`s = ${text()}`, `k = ${n(6) === 5 ? "NULL" : n(5)}`, `tags = ARRAY['t${n(4)}']`, `note = 'n${n(30)}'`][n(4)]} WHERE id = ${id}`,
          );
        else if (kind < 6) statements.push(`UPDATE r SET id = ${nextId++} WHERE id = ${id}`);
        else if (kind < 7) statements.push(`DELETE FROM r WHERE id = ${id}`);
        else if (kind < 8)
          statements.push(
            `INSERT INTO r VALUES (${id}, ${text()}, ${n(5)}, ARRAY['t${n(4)}'], 'n${n(30)}') ON CONFLICT (id) DO UPDATE SET k = excluded.k, s = excluded.s`,
          );
        else statements.push(`UPDATE r SET s = ${text()}, k = ${n(5)} WHERE id IN (${id}, ${id + 1})`);
      }
      await h.pool.query(`BEGIN; ${statements.join("; ")}; COMMIT`);
      if (i % 50 === 49) for (const f of followers) await follow(f);
    }
    expect(h.server.registry()!.compaction.runs).toBeGreaterThan(0);

    const mismatches: string[] = [];
    for (const s of sse) {
      const expected = (
        await h.pool.query(`SELECT ${s.def.columns ?? "*"} FROM r ${s.def.where ? `WHERE ${s.def.where}` : ""}`)
      ).rows
        .map(normalize)
        .sort();
      const deadline = Date.now() + 10_000;
      const current = () => [...s.rows.values()].map(normalize).sort().join("\n");
      while (current() !== expected.join("\n") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      s.stop();
      if (current() !== expected.join("\n")) mismatches.push(`sse ${JSON.stringify(s.def)}`);
    }
    for (const f of followers) {
      const expected = (
        await h.pool.query(`SELECT ${f.def.columns ?? "*"} FROM r ${f.def.where ? `WHERE ${f.def.where}` : ""}`)
      ).rows
        .map(normalize)
        .sort();
      // Replication is asynchronous: follow until the shape has caught up with the last transaction.
      const deadline = Date.now() + 10_000;
      let ours: string[] = [];
      for (;;) {
        await follow(f);
        ours = [...f.rows.values()].map(normalize).sort();
        if (ours.join("\n") === expected.join("\n") || Date.now() > deadline) break;
      }
      const fresh: Follower = { def: f.def, handle: f.handle, offset: "-1", rows: new Map() };
      await follow(fresh);
      const fromScratch = [...fresh.rows.values()].map(normalize).sort();
      if (ours.join("\n") !== expected.join("\n")) mismatches.push(`followed ${JSON.stringify(f.def)}`);
      if (fromScratch.join("\n") !== expected.join("\n")) mismatches.push(`from scratch ${JSON.stringify(f.def)}`);
    }
    expect(mismatches).toEqual([]);
  });
});
