/**
 * The CSV import example: a parent run splits an uploaded CSV into batches of child runs; each
 * child processes its rows and increments the parent's `processed` metadata, so the parent's
 * progress (`processed` / `total`) climbs live on the dashboard.
 */
import { parseCsv, sampleCsv } from "./csv.js";
import { defineTask } from "@runfeed/sdk";

export interface CsvImportPayload {
  filename: string;
  csv: string;
  /** Rows per child run (default 25). */
  batchSize?: number;
  /** Simulated work per row in ms (default 40). */
  rowDelayMs?: number;
}

export interface CsvImportOutput {
  filename: string;
  total: number;
  processed: number;
  invalid: number;
  batches: number;
  failedBatches: number;
}

export interface CsvBatchPayload {
  header: string[];
  rows: string[][];
  firstRow: number;
  rowDelayMs: number;
}

export interface CsvBatchOutput {
  processed: number;
  invalid: number;
  invalidRows: number[];
}

/** How many rows a child reports at once: often enough for a smooth bar, rarely enough to be cheap. */
const REPORT_EVERY = 5;

export const csvImport = defineTask<CsvImportPayload, CsvImportOutput>({
  id: "csv-import",
  description: "Splits a CSV into batches of child runs and tracks their progress in metadata.",
  samplePayload: () => ({ filename: "sample-customers.csv", csv: sampleCsv(300), batchSize: 25, rowDelayMs: 40 }),
  async run(payload, ctx) {
    const [header, ...rows] = parseCsv(payload.csv ?? "");
    if (!header) throw new Error(`${payload.filename || "The CSV"} is empty: expected a header row.`);
    const batchSize = Math.max(1, Math.min(payload.batchSize ?? 25, 1000));
    const rowDelayMs = Math.max(0, Math.min(payload.rowDelayMs ?? 40, 5000));

    const batches: string[][][] = [];
    for (let i = 0; i < rows.length; i += batchSize) batches.push(rows.slice(i, i + batchSize));
    ctx.logger.info(`Parsed ${payload.filename || "the CSV"}`, { rows: rows.length, columns: header.length });

    await ctx.metadata.replace({
      filename: payload.filename,
      stage: "importing",
      total: rows.length,
      processed: 0,
      batches: batches.length,
    });
    await ctx.batchTrigger(
      "csv-import-batch",
      batches.map((batchRows, index) => ({
        payload: { header, rows: batchRows, firstRow: index * batchSize + 1, rowDelayMs } satisfies CsvBatchPayload,
        tags: [`import:${ctx.run.friendlyId}`],
      })),
    );
    ctx.logger.event("batch-triggered", { batches: batches.length, batchSize });
    const children = await ctx.waitForChildren();

    const outputs = children.map((child) => child.output as CsvBatchOutput | null);
    const output: CsvImportOutput = {
      filename: payload.filename,
      total: rows.length,
      processed: outputs.reduce((sum, o) => sum + (o?.processed ?? 0), 0),
      invalid: outputs.reduce((sum, o) => sum + (o?.invalid ?? 0), 0),
      batches: batches.length,
      failedBatches: children.filter((child) => child.status !== "COMPLETED_SUCCESSFULLY").length,
    };
    if (output.failedBatches > 0) ctx.logger.warn(`${output.failedBatches} batches failed`);
    ctx.logger.info("Import finished", { processed: output.processed, invalid: output.invalid });
    await ctx.metadata.set("stage", "done");
    return output;
  },
});

export const csvImportBatch = defineTask<CsvBatchPayload, CsvBatchOutput>({
  id: "csv-import-batch",
  description: "Validates one batch of CSV rows and reports progress to its parent.",
  async run(payload, ctx) {
    const emailColumn = payload.header.findIndex((name) => name.trim().toLowerCase() === "email");
    const invalidRows: number[] = [];
    let unreported = 0;
    ctx.logger.info(`Validating rows ${payload.firstRow}–${payload.firstRow + payload.rows.length - 1}`);
    for (const [offset, row] of payload.rows.entries()) {
      await ctx.sleep(payload.rowDelayMs);
      const email = emailColumn >= 0 ? (row[emailColumn] ?? "") : "";
      if (emailColumn >= 0 && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
        invalidRows.push(payload.firstRow + offset);
        ctx.logger.warn(`Row ${payload.firstRow + offset}: invalid email`, { email });
      }
      unreported++;
      if (unreported >= REPORT_EVERY) {
        await ctx.metadata.parent.increment("processed", unreported);
        unreported = 0;
      }
    }
    if (unreported > 0) await ctx.metadata.parent.increment("processed", unreported);
    ctx.logger.info("Batch done", { processed: payload.rows.length, invalid: invalidRows.length });
    return { processed: payload.rows.length, invalid: invalidRows.length, invalidRows };
  },
});
