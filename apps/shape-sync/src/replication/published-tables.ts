/**
 * Which tables the publication covers (§9.1): a table is added (with REPLICA IDENTITY FULL) when a
 * shape needs it, and dropped from the publication once no shape has used it for `dropAfterMs`, so
 * Postgres stops decoding changes nobody reads. ALTER PUBLICATION statements run one at a time, and
 * a drop re-checks that the table is still unused when its turn comes.
 */
import type pg from "pg";
import type { Logger } from "pino";
import type { SlotManager } from "./slot.js";

export class PublishedTables {
  /** Tables known to be in the publication with REPLICA IDENTITY FULL. */
  private readonly published = new Set<string>();
  /** Shapes (being created, active or recovered) per table. */
  private readonly users = new Map<string, number>();
  private readonly dropTimers = new Map<string, NodeJS.Timeout>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly slot: SlotManager,
    private readonly pool: pg.Pool,
    private readonly dropAfterMs: number,
    private readonly logger: Logger,
  ) {}

  /** A shape on this table is being created: resolves once the table is published. */
  async acquire(schema: string, table: string): Promise<void> {
    const key = this.retain(schema, table);
    if (this.published.has(key)) return;
    try {
      await this.serially(() => this.slot.ensureTablePublished(this.pool, schema, table));
      this.published.add(key);
    } catch (e) {
      this.release(schema, table);
      throw e;
    }
  }

  /** Counts a shape on this table without publishing it (shapes recovered from storage). */
  retain(schema: string, table: string): string {
    const key = `${schema}.${table}`;
    this.users.set(key, (this.users.get(key) ?? 0) + 1);
    clearTimeout(this.dropTimers.get(key));
    this.dropTimers.delete(key);
    return key;
  }

  /** A shape on this table is gone; the last one schedules the table's removal from the publication. */
  release(schema: string, table: string): void {
    const key = `${schema}.${table}`;
    const left = (this.users.get(key) ?? 1) - 1;
    if (left > 0) {
      this.users.set(key, left);
      return;
    }
    this.users.delete(key);
    const timer = setTimeout(() => {
      this.dropTimers.delete(key);
      void this.serially(async () => {
        if (this.users.has(key)) return;
        this.published.delete(key);
        if (await this.slot.unpublishTable(this.pool, schema, table))
          this.logger.info({ table: key }, "table dropped from the publication (no shape uses it)");
      }).catch((err: Error) =>
        this.logger.warn({ table: key, err: err.message }, "could not drop the table from the publication"),
      );
    }, this.dropAfterMs);
    timer.unref();
    this.dropTimers.set(key, timer);
  }

  /** Forget what is known to be published (a table changed: the next shape re-checks it). */
  forget(): void {
    this.published.clear();
  }

  stop(): void {
    for (const t of this.dropTimers.values()) clearTimeout(t);
    this.dropTimers.clear();
  }

  private serially<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }
}
