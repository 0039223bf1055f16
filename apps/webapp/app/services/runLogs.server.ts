/**
 * Writing run log lines (docs/decisions/090-run-logs.md): the ONE function every writer of
 * "TaskRunLog" goes through, so that the write pipeline (issue 13) can swap how lines get there.
 *
 * Log lines are the low-urgency class of writes. Until the pipeline's low-urgency stream exists this
 * is a direct multi-row INSERT (one statement, one commit per call); the pipeline replaces the body of
 * `appendRunLogs` with an append to its stream, and callers keep their contract: resolved = durable.
 *
 * Values Postgres would refuse and that would fail the whole statement are made storable first: NUL
 * characters (text and jsonb refuse them) and lone UTF-16 surrogates (jsonb refuses their escapes)
 * become U+FFFD, in messages and in attribute keys and values.
 */
import { randomUUID } from "node:crypto";
import type { RunLogKind, RunLogLevel } from "@runfeed/core";
import type { PrismaClient } from "@runfeed/database";

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

/** Stores the lines (all or none); resolves once they are durable. */
export async function appendRunLogs(prisma: PrismaClient, lines: readonly RunLogEntry[]): Promise<void> {
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
