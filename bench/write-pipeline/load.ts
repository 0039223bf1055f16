/**
 * The write-pipeline bench's saturating load, in a process of its own (run by run.ts, not by hand):
 * N @runfeed/sdk pipeline writers of one kind write and flush in a loop until SIGTERM, then print
 * `{"units":n}` (operations or lines accepted) and exit. Kept out of run.ts's process so that the
 * trigger client measured beside it is not starved by the load generator's own JSON work.
 *
 *   node --import tsx bench/write-pipeline/load.ts <metadata|logs> <clients>
 *   env: BENCH_BASE_URL, BENCH_API_KEY, BENCH_RUNS (comma-separated friendly ids)
 */
import { PipelineWriterDefaults, pipeline } from "../../packages/sdk/src/index.js";

export type LoadKind = "metadata" | "logs";

/**
 * Writers flushing and awaiting in a loop: operations (metadata) or lines (logs) accepted. Each flush
 * is a full buffer of the SDK's default size.
 */
export async function writeLoad(options: {
  kind: LoadKind;
  clients: number;
  baseURL: string;
  accessToken: string;
  runs: readonly string[];
  stop: () => boolean;
}): Promise<number> {
  const { kind, runs } = options;
  let units = 0;
  const batch = PipelineWriterDefaults.maxItems;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, c) => {
      const writer = pipeline.writer({
        baseURL: options.baseURL,
        accessToken: options.accessToken,
      });
      let i = c;
      while (!options.stop()) {
        for (let j = 0; j < batch; j++, i++) {
          if (kind === "metadata") writer.metadata(runs[i % runs.length]!).increment("n");
          else writer.log(runs[i % runs.length]!, { message: `line ${c}-${i}`, attributes: { i } });
        }
        await writer.flush();
        units += batch;
      }
    }),
  );
  return units;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const kind = process.argv[2] as LoadKind;
  let stopping = false;
  process.on("SIGTERM", () => {
    stopping = true;
  });
  const units = await writeLoad({
    kind,
    clients: Number(process.argv[3] ?? 16),
    baseURL: process.env.BENCH_BASE_URL!,
    accessToken: process.env.BENCH_API_KEY!,
    runs: process.env.BENCH_RUNS!.split(","),
    stop: () => stopping,
  });
  process.stdout.write(`${JSON.stringify({ units })}\n`);
}
