/** The smallest task: waits a moment and echoes its payload. `{"fail": true}` makes it throw. */
import { defineTask } from "@runfeed/sdk";

export const helloWorld = defineTask<{ name?: string; fail?: boolean; delayMs?: number }, { greeting: string }>({
  id: "hello-world",
  description: 'Waits briefly, then greets. Pass {"fail": true} to see a failed run.',
  async run(payload, ctx) {
    await ctx.sleep(Math.min(payload?.delayMs ?? 500, 10_000));
    if (payload?.fail) throw new Error(`hello-world was asked to fail (name: ${payload.name ?? "anonymous"})`);
    return { greeting: `Hello, ${payload?.name ?? "world"}!` };
  },
});
