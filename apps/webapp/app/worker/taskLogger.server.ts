/**
 * `ctx.logger` of the example tasks: the run's log lines and events (docs/decisions/090-run-logs.md),
 * written through the worker's `write` (runLogWriter: the write pipeline's low class, directly when the
 * buffer refuses them). Lines are gathered and written together when 100 are waiting or the oldest has
 * waited 500 ms, and every line is durable before the worker records the run's outcome (`flush()`):
 * a finished run's logs are all stored, the last ones within the low class's drain interval after
 * (docs/decisions/092-write-pipeline.md). A failed write is reported to the process log and never
 * fails the task.
 */
import type { RunLogKind, RunLogLevel } from "@runfeed/core";
import type { TaskLogger } from "@runfeed/sdk";
import type { Logger } from "../services/logger.server";
import type { RunLogEntry } from "../services/runLogs.server";

export const TaskLoggerDefaults = { maxLines: 100, maxAgeMs: 500 } as const;

export interface TaskRunLoggerOptions {
  run: { id: string; friendlyId: string; runtimeEnvironmentId: string };
  write: (lines: RunLogEntry[]) => Promise<void>;
  logger: Logger;
  maxLines?: number;
  maxAgeMs?: number;
}

export class TaskRunLogger implements TaskLogger {
  readonly #options: TaskRunLoggerOptions;
  #pending: RunLogEntry[] = [];
  #seq = 0;
  #lastMs = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: TaskRunLoggerOptions) {
    this.#options = options;
  }

  trace = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "trace", message, attributes);
  debug = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "debug", message, attributes);
  log = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "log", message, attributes);
  info = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "info", message, attributes);
  warn = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "warn", message, attributes);
  error = (message: string, attributes?: Record<string, unknown>) => this.#add("log", "error", message, attributes);
  event = (name: string, attributes?: Record<string, unknown>) => this.#add("event", "info", name, attributes);

  /** Writes everything logged so far; resolves once it is stored (or its failure reported). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const lines = this.#pending;
    this.#pending = [];
    // One write at a time, in order: lines of one run are stored in the order they were logged.
    this.#writing = this.#writing.then(() => (lines.length > 0 ? this.#write(lines) : undefined));
    return this.#writing;
  }

  #add(kind: RunLogKind, level: RunLogLevel, message: string, attributes?: Record<string, unknown>) {
    const now = Date.now();
    // seq orders lines of the same millisecond; it restarts at 0 in each new millisecond.
    this.#seq = now === this.#lastMs ? this.#seq + 1 : 0;
    this.#lastMs = now;
    const { run } = this.#options;
    this.#pending.push({
      runId: run.id,
      runtimeEnvironmentId: run.runtimeEnvironmentId,
      kind,
      level,
      message: String(message),
      attributes,
      time: new Date(now),
      seq: this.#seq,
    });
    if (this.#pending.length >= (this.#options.maxLines ?? TaskLoggerDefaults.maxLines)) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#options.maxAgeMs ?? TaskLoggerDefaults.maxAgeMs);
  }

  async #write(lines: RunLogEntry[]) {
    try {
      await this.#options.write(lines);
    } catch (error) {
      this.#options.logger.warn(
        { run: this.#options.run.friendlyId, lines: lines.length, err: (error as Error).message },
        "worker: could not store run log lines",
      );
    }
  }
}
