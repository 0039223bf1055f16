/**
 * The task functions this process can run, by id. Built from the list the process that starts the
 * webapp hands in (server/index.ts: the example tasks), so app code never imports a task module.
 */
import type { TaskDefinition } from "@runfeed/sdk";

// biome-ignore lint/suspicious/noExplicitAny: each task has its own payload and output types
export type AnyTask = TaskDefinition<any, any>;

export class TaskRegistry {
  readonly #tasks: Map<string, AnyTask>;

  constructor(tasks: ReadonlyArray<AnyTask> = []) {
    this.#tasks = new Map(tasks.map((task) => [task.id, task]));
  }

  get(id: string): AnyTask | undefined {
    return this.#tasks.get(id);
  }

  get all(): AnyTask[] {
    return [...this.#tasks.values()];
  }

  get ids(): string[] {
    return [...this.#tasks.keys()];
  }
}
