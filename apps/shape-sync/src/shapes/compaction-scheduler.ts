/**
 * When shape logs are compacted (compaction.ts says how): each shape counts the bytes replicated into
 * its log, and crossing the threshold queues a compaction of its older part. The queue runs one shape
 * per turn of the event loop, so replication and requests interleave with it.
 */
import type { Logger } from "pino";
import type { Shape } from "./shape.js";
import type { ShapeStorage } from "./storage.js";

export interface CompactionSchedulerDeps {
  storage: ShapeStorage;
  /** Replicated bytes per shape between compactions; 0 disables compaction. */
  thresholdBytes: number;
  logger: Logger;
}

export class CompactionScheduler {
  /** Shape → the transaction to compact up to (a later request for the same shape replaces it). */
  private readonly queue = new Map<Shape, bigint>();
  private running = false;
  private passes = 0;
  private folded = 0;

  constructor(private readonly deps: CompactionSchedulerDeps) {}

  /** Compactions run. */
  get runs(): number {
    return this.passes;
  }

  /** Update messages folded into a later update of the same key. */
  get messagesFolded(): number {
    return this.folded;
  }

  /** `bytes` were appended to the shape's log at transaction `tx`. */
  appended(shape: Shape, bytes: number, tx: bigint): void {
    const upto = shape.compaction.grow(bytes, tx, this.deps.thresholdBytes);
    if (upto === undefined) return;
    this.queue.set(shape, upto);
    if (this.running) return;
    this.running = true;
    setImmediate(this.next);
  }

  private readonly next = (): void => {
    const first = this.queue.entries().next();
    if (first.done) {
      this.running = false;
      return;
    }
    const [shape, upto] = first.value;
    this.queue.delete(shape);
    if (shape.state === "active") this.compact(shape, upto);
    setImmediate(this.next);
  };

  private compact(shape: Shape, uptoTx: bigint): void {
    const t0 = performance.now();
    const r = shape.compaction.run(this.deps.storage, shape.id, uptoTx);
    this.passes++;
    this.folded += r.folded;
    this.deps.logger.debug(
      { handle: shape.handle, uptoTx: uptoTx.toString(), ...r, ms: Math.round(performance.now() - t0) },
      "shape log compacted",
    );
  }
}
