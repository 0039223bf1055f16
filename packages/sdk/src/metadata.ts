/**
 * Run metadata from outside a task (contract §6.3, §6.4): operations are queued, collapsed and sent
 * about once a second in one `PUT /api/v1/runs/:id/metadata { operations, parentOperations, rootOperations }`.
 * Requires a secret key (the route accepts no public tokens).
 */
import type { MetadataOperation } from "./public-types.js";
import type { RequestOptions } from "./config.js";
import { apiRequest } from "./http.js";

export interface RunMetadataOptions extends RequestOptions {
  /** How long operations wait before they are sent together. Default 1000 ms. */
  flushIntervalMs?: number;
  /** Called when a timed flush fails (the operations of that flush are dropped, as in the Trigger.dev SDK). */
  onError?: (error: unknown) => void;
}

type Queue = "operations" | "parentOperations" | "rootOperations";

/** Merges neighbours the way the Trigger.dev SDK does: increments summed, repeated sets/deletes of a key kept once. */
export function collapseOperations(operations: readonly MetadataOperation[]): MetadataOperation[] {
  const out: MetadataOperation[] = [];
  for (const op of operations) {
    const last = out[out.length - 1];
    if (last && "key" in last && "key" in op && last.key === op.key && last.type === op.type) {
      if (op.type === "increment" && last.type === "increment") {
        out[out.length - 1] = { ...last, value: last.value + op.value };
        continue;
      }
      if (op.type === "set" || op.type === "delete") {
        out[out.length - 1] = op;
        continue;
      }
    }
    out.push(op);
  }
  return out;
}

/** The operations of one target: the run itself, its parent, or its root. */
export class MetadataTarget {
  readonly #enqueue: (op: MetadataOperation) => void;
  constructor(enqueue: (op: MetadataOperation) => void) {
    this.#enqueue = enqueue;
  }

  set(key: string, value: unknown): this {
    this.#enqueue({ type: "set", key, value });
    return this;
  }
  del(key: string): this {
    this.#enqueue({ type: "delete", key });
    return this;
  }
  increment(key: string, value = 1): this {
    this.#enqueue({ type: "increment", key, value });
    return this;
  }
  decrement(key: string, value = 1): this {
    return this.increment(key, -value);
  }
  append(key: string, value: unknown): this {
    this.#enqueue({ type: "append", key, value });
    return this;
  }
  remove(key: string, value: unknown): this {
    this.#enqueue({ type: "remove", key, value });
    return this;
  }
  replace(value: Record<string, unknown>): this {
    this.#enqueue({ type: "update", value });
    return this;
  }
}

const liveHandles = new Set<RunMetadata>();

/** Metadata of one run; `parent` and `root` address that run's parent and root (or itself when it has none). */
export class RunMetadata extends MetadataTarget {
  readonly parent: MetadataTarget;
  readonly root: MetadataTarget;
  #queues: Record<Queue, MetadataOperation[]> = { operations: [], parentOperations: [], rootOperations: [] };
  #timer: ReturnType<typeof setTimeout> | undefined;
  #inFlight: Promise<unknown> = Promise.resolve();
  #current: Record<string, unknown> | undefined;

  constructor(
    readonly runId: string,
    readonly options: RunMetadataOptions = {},
  ) {
    super((op) => this.#push("operations", op));
    this.parent = new MetadataTarget((op) => this.#push("parentOperations", op));
    this.root = new MetadataTarget((op) => this.#push("rootOperations", op));
  }

  /** The metadata the server returned from the last flush. */
  get current(): Record<string, unknown> | undefined {
    return this.#current;
  }

  /** Sends everything queued now; resolves with the run's metadata after the write. */
  flush(): Promise<Record<string, unknown> | undefined> {
    this.#clearTimer();
    const next = this.#inFlight.catch(() => {}).then(() => this.#send());
    this.#inFlight = next;
    return next;
  }

  /** Cancels the timer and drops queued operations. Call flush() first to keep them. */
  stop(): void {
    this.#clearTimer();
    this.#queues = { operations: [], parentOperations: [], rootOperations: [] };
    liveHandles.delete(this);
  }

  #push(queue: Queue, op: MetadataOperation) {
    this.#queues[queue].push(op);
    liveHandles.add(this);
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush().catch((error) => this.options.onError?.(error));
      }, this.options.flushIntervalMs ?? 1_000);
      // Node: a pending flush must not keep the process alive on its own.
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #clearTimer() {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #send(): Promise<Record<string, unknown> | undefined> {
    const queues = this.#queues;
    this.#queues = { operations: [], parentOperations: [], rootOperations: [] };
    if (queues.operations.length + queues.parentOperations.length + queues.rootOperations.length === 0)
      return this.#current;
    const { data } = await apiRequest<{ metadata: Record<string, unknown> }>(
      {
        method: "PUT",
        path: `/api/v1/runs/${encodeURIComponent(this.runId)}/metadata`,
        body: {
          operations: collapseOperations(queues.operations),
          parentOperations: collapseOperations(queues.parentOperations),
          rootOperations: collapseOperations(queues.rootOperations),
        },
      },
      this.options,
    );
    this.#current = data.metadata;
    return this.#current;
  }
}

/**
 * Metadata of a run, batched and flushed about once a second.
 *
 * @example
 * ```ts
 * const m = metadata.forRun(runId);
 * m.set("status", "importing").increment("processed", 10);
 * m.parent.increment("processed", 10);
 * await m.flush();
 * ```
 */
export function forRun(runId: string, options: RunMetadataOptions = {}): RunMetadata {
  return new RunMetadata(runId, options);
}

/** Flushes every handle that has queued operations. */
export async function flushAll(): Promise<void> {
  await Promise.all([...liveHandles].map((handle) => handle.flush()));
}
