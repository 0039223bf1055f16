/**
 * How the start command and the test setup report a failure to start something: one line that names
 * the cause, never a stack trace.
 */

/** A service (Postgres, Redis, shape-sync, the webapp) or a prerequisite could not be started or found. */
export class StartError extends Error {
  override name = "StartError";
}

/** Any error as one line: its message with line breaks folded (a stack trace is never included). */
export function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .join("; ");
}
