/**
 * The values that cross between a run's row and its task function: the payload as the task receives
 * it, stored JSON read back, and a thrown value as the contract's `TaskRunError`.
 */
import { parsePacket } from "../services/retrieve.server";
import type { ClaimedRun } from "./claim.server";

/** The payload as the task receives it: the same packet rules as the retrieve API (SDK triggers send super+json). */
export function parsePayload(run: Pick<ClaimedRun, "payload" | "payloadType">): unknown {
  if (run.payloadType === "application/json") return parseJson(run.payload);
  if (run.payloadType === "application/super+json") return parsePacket(run.payload, run.payloadType);
  return run.payload;
}

export function parseJson(text: string | null): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function parseObject(text: string | null): Record<string, unknown> {
  const value = parseJson(text);
  return value && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** A thrown value as the contract's `TaskRunError` (§5.4): BUILT_IN_ERROR for Errors, STRING_ERROR otherwise. */
export function builtInError(error: unknown): object {
  if (error instanceof Error) {
    return { type: "BUILT_IN_ERROR", name: error.name, message: error.message, stackTrace: error.stack ?? "" };
  }
  return { type: "STRING_ERROR", raw: typeof error === "string" ? error : (JSON.stringify(error) ?? String(error)) };
}
