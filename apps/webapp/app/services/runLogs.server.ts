/**
 * Writing run log lines (docs/decisions/090-run-logs.md): the ONE function every writer of
 * "TaskRunLog" goes through, so that the write pipeline can swap how lines get there.
 *
 * Log lines are the low-urgency class of writes. This is the direct multi-row INSERT (one statement,
 * one commit per call); `runLogWriter` sends lines through the write pipeline's low class instead
 * (docs/decisions/092-write-pipeline.md) and falls back to this when the buffer refuses them. Either
 * way: resolved = durable.
 *
 * Values Postgres would refuse and that would fail the whole statement are made storable first: NUL
 * characters (text and jsonb refuse them) and lone UTF-16 surrogates (jsonb refuses their escapes)
 * become U+FFFD, in messages and in attribute keys and values.
 */
import { randomUUID } from "node:crypto";
import type { RunLogKind, RunLogLevel } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";
import type { RunLogsPublisher } from "./realtime/native/runSignals.server";

export interface RunLogEntry {
  /** The per-item key; a random one when absent. A line with a key already stored is skipped. */
  id?: string;
  /** Internal run id. */
  runId: string;
  runtimeEnvironmentId: string;
  kind: RunLogKind;
  level: RunLogLevel;
  message: string;
  attributes?: Record<string, unknown>;
  time: Date;
  seq: number;
}

const INSERT_SQL = `INSERT INTO "TaskRunLog" ("id","runId","runtimeEnvironmentId","kind","level","message","attributes","time","seq")
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]::jsonb[],
                       $8::text[]::timestamp[], $9::int[])
  ON CONFLICT ("id") DO NOTHING`;

/**
 * Stores the lines (all or none); resolves once they are durable. With `signals`, the runs' log feeds
 * are told after the commit (docs/decisions/073-realtime-notifier-backend.md).
 */
export async function appendRunLogs(
  prisma: PrismaClient,
  lines: readonly RunLogEntry[],
  signals?: RunLogsPublisher,
): Promise<void> {
  if (lines.length === 0) return;
  await prisma.$executeRawUnsafe(
    INSERT_SQL,
    lines.map((l) => l.id ?? randomUUID()),
    lines.map((l) => l.runId),
    lines.map((l) => l.runtimeEnvironmentId),
    lines.map((l) => l.kind),
    lines.map((l) => l.level),
    lines.map((l) => storableText(l.message)),
    lines.map((l) => JSON.stringify(storableValue(l.attributes ?? {}))),
    lines.map((l) => l.time.toISOString().replace(/Z$/, "")),
    lines.map((l) => l.seq),
  );
  signals?.publishRunLogsAppended(lines.map((l) => l.runId));
}

/** What accepts buffered log lines: the write pipeline's acceptor (WriteAcceptor.accept, low class). */
export type LowClassAccept = (
  environmentId: string,
  items: Array<{ runId: string }>,
) => Promise<{ kind: "accepted" | "refused" | "unavailable" }>;

/**
 * The worker's log writer: a run's lines go through the write pipeline's low class (one append per
 * call, all lines of one environment); when the buffer refuses them (past its high-water mark, Redis
 * unreachable) they are written directly instead, so none is lost (and signalled, as the drain signals
 * what it applies). Without `accept`: direct.
 */
export function runLogWriter(prisma: PrismaClient, accept?: LowClassAccept, signals?: RunLogsPublisher) {
  return async (lines: readonly RunLogEntry[]): Promise<void> => {
    if (lines.length === 0) return;
    const byEnvironment = new Map<string, RunLogEntry[]>();
    for (const line of lines) {
      const group = byEnvironment.get(line.runtimeEnvironmentId);
      if (group) group.push(line);
      else byEnvironment.set(line.runtimeEnvironmentId, [line]);
    }
    for (const [environmentId, group] of byEnvironment) {
      const items = group.map(({ id: _id, runtimeEnvironmentId: _env, time, ...rest }) => ({
        ...rest,
        time: time.toISOString(),
      }));
      const outcome = accept ? await accept(environmentId, items) : undefined;
      if (outcome?.kind !== "accepted") await appendRunLogs(prisma, group, signals);
    }
  };
}

/** NUL, a high surrogate not followed by a low one, a low surrogate not preceded by a high one. */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** NUL and lone surrogates → U+FFFD. */
export function storableText(text: string): string {
  return text.replace(UNSTORABLE, "\uFFFD");
}

/** A JSON value with every string (keys too) made storable; non-JSON values go the way JSON.stringify takes them. */
export function storableValue(value: unknown): unknown {
  if (typeof value === "string") return storableText(value);
  if (Array.isArray(value)) return value.map(storableValue);
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) out[storableText(key)] = storableValue(inner);
    return out;
  }
  return value;
}
