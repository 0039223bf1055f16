/**
 * Task functions the example worker executes. The process that starts the worker hands it this list
 * (the webapp's server entry); add a task here and it can be triggered with
 * `POST /api/v1/tasks/<id>/trigger`.
 */
import { csvImport, csvImportBatch } from "./csv-import.js";
import { helloWorld } from "./hello-world.js";
import { crashy, flakyOnce, sleepy } from "./lifecycle.js";
import { llmDemo } from "./llm-demo.js";
import type { TaskDefinition } from "@runfeed/sdk";

export const exampleTasks: ReadonlyArray<TaskDefinition<any, any>> = [
  csvImport,
  csvImportBatch,
  helloWorld,
  llmDemo,
  flakyOnce,
  sleepy,
  crashy,
];

export { csvImport, csvImportBatch, crashy, flakyOnce, helloWorld, llmDemo, sleepy };
export { parseCsv, sampleCsv } from "./csv.js";
export type { CsvImportPayload, CsvImportOutput, CsvBatchPayload, CsvBatchOutput } from "./csv-import.js";
export type { LlmDemoPayload, LlmDemoOutput } from "./llm-demo.js";
