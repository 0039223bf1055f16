/**
 * Client-side batching for the write pipeline (docs/decisions/092-write-pipeline.md): metadata
 * operations and run log lines for any number of runs are buffered and sent together — one
 * `POST /api/v1/metadata/batch` and one `POST /api/v1/logs/batch` per flush — when the buffer reaches
 * `maxItems` or its oldest entry is `maxAgeMs` old, and on `flush()`/`close()`, which resolve once
 * everything written before them was accepted (202: durable on the server, applied within about a
 * second for metadata, a few for logs). Each request carries its own request key, reused across its
 * retries (http.ts), so a retried flush is queued once.
 *
 *   const writer = createPipelineWriter({ maxItems: 1_000, maxAgeMs: 500 });
 *   writer.metadata(runId).increment("rows").parent.increment("rowsDone");
 *   writer.log(runId, { level: "info", message: "row 17 imported" });
 *   await writer.flush();
 *
 * Requires a secret key (the batched routes accept no public tokens).
 */
import {
  LOGS_BATCH_PATH,
  MAX_BATCH_ITEMS,
  METADATA_BATCH_PATH,
  type BatchAcceptedResponse,
  type RunLogKind,
  type RunLogLevel,
} from "@runfeed/core";
import type { RequestOptions } from "./config.js";
import { apiRequest } from "./http.js";
import { MetadataTarget } from "./metadata.js";
import type { MetadataOperation } from "./public-types.js";

/**
 * A full buffer is one request of up to MAX_BATCH_ITEMS writes: a request's fixed costs (HTTP, auth,
 * one Redis round trip) are then spread over a thousand writes rather than a hundred, which is what
 * lets a busy writer reach tens of thousands of writes per second. A writer that writes less is
 * flushed by age, so the larger size costs it no latency.
 */
export const PipelineWriterDefaults = { maxItems: MAX_BATCH_ITEMS, maxAgeMs: 500 } as const;

export interface PipelineWriterOptions extends RequestOptions {
  /** Flush when this many metadata operations plus log lines are buffered. Default 1,000 (MAX_BATCH_ITEMS). */
  maxItems?: number;
  /** Flush when the oldest buffered write is this old (ms). Default 500. */
  maxAgeMs?: number;
  /** Called when a flush started by size or age fails (flush() and close() reject instead). */
  onError?: (error: unknown) => void;
}

export interface LogLine {
  message: string;
  level?: RunLogLevel;
  kind?: RunLogKind;
  attributes?: Record<string, unknown>;
  /** Defaults to when the server accepts it. */
  time?: Date | string;
}

interface MetadataItem {
  runId: string;
  operations?: MetadataOperation[];
  parentOperations?: MetadataOperation[];
  rootOperations?: MetadataOperation[];
}

interface LogItem extends Omit<LogLine, "time"> {
  runId: string;
  time?: string;
}

type Queue = "operations" | "parentOperations" | "rootOperations";

/** The run's own operations; `parent` and `root` route to its parent and root run. */
export class BatchedRunMetadata extends MetadataTarget {
  readonly parent: MetadataTarget;
  readonly root: MetadataTarget;
  constructor(enqueue: (queue: Queue, op: MetadataOperation) => void) {
    super((op) => enqueue("operations", op));
    this.parent = new MetadataTarget((op) => enqueue("parentOperations", op));
    this.root = new MetadataTarget((op) => enqueue("rootOperations", op));
  }
}

const liveWriters = new Set<PipelineWriter>();

export class PipelineWriter {
  /** Per run, its buffered operations in order (a run's operations stay one item). */
  #metadata = new Map<string, MetadataItem>();
  #logs: LogItem[] = [];
  #buffered = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  readonly #options: PipelineWriterOptions;

  constructor(options: PipelineWriterOptions = {}) {
    this.#options = options;
  }

  /** Operations on one run (friendly or internal id). */
  metadata(runId: string): BatchedRunMetadata {
    return new BatchedRunMetadata((queue, op) => {
      let item = this.#metadata.get(runId);
      if (!item) {
        item = { runId };
        this.#metadata.set(runId, item);
      }
      (item[queue] ??= []).push(op);
      this.#added();
    });
  }

  /** One log line or event of a run. */
  log(runId: string, line: LogLine): this {
    const { time, ...rest } = line;
    this.#logs.push({ runId, ...rest, ...(time ? { time: new Date(time).toISOString() } : {}) });
    this.#added();
    return this;
  }

  /** Writes buffered and not yet sent. */
  get buffered(): number {
    return this.#buffered;
  }

  /** Sends everything buffered now; resolves when it (and every earlier flush) was accepted. */
  flush(): Promise<void> {
    this.#clearTimer();
    const metadata = [...this.#metadata.values()];
    const logs = this.#logs;
    this.#metadata = new Map();
    this.#logs = [];
    this.#buffered = 0;
    liveWriters.delete(this);
    const previous = this.#inFlight;
    const sending = Promise.all([
      ...chunks(metadata, MAX_BATCH_ITEMS).map((items) => this.#post(METADATA_BATCH_PATH, items)),
      ...chunks(logs, MAX_BATCH_ITEMS).map((items) => this.#post(LOGS_BATCH_PATH, items)),
    ]).then(() => {});
    // Resolves after this flush's requests and every earlier flush's.
    const done = Promise.all([previous, sending]).then(() => {});
    this.#inFlight = done.catch(() => {});
    return done;
  }

  /** Flushes and stops the timer. */
  close(): Promise<void> {
    return this.flush();
  }

  #added() {
    this.#buffered++;
    liveWriters.add(this);
    if (this.#buffered >= (this.#options.maxItems ?? PipelineWriterDefaults.maxItems)) {
      this.flush().catch((error) => this.#options.onError?.(error));
      return;
    }
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush().catch((error) => this.#options.onError?.(error));
      }, this.#options.maxAgeMs ?? PipelineWriterDefaults.maxAgeMs);
      // Node: a pending flush must not keep the process alive on its own.
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #clearTimer() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #post(path: string, items: unknown[]) {
    await apiRequest<BatchAcceptedResponse>({ method: "POST", path, body: { items } }, this.#options);
  }
}

export function createPipelineWriter(options: PipelineWriterOptions = {}): PipelineWriter {
  return new PipelineWriter(options);
}

/** Flushes every writer with buffered writes (e.g. before a task completes or the process exits). */
export async function flushAllPipelineWriters(): Promise<void> {
  await Promise.all([...liveWriters].map((writer) => writer.flush()));
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
