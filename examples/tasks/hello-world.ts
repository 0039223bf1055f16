/** The smallest task: waits a moment and echoes its payload. `{"fail": true}` makes it throw. */
import { defineTask } from "@runfeed/sdk";

export const helloWorld = defineTask<{ name?: string; fail?: boolean; delayMs?: number }, { greeting: string }>({
  id: "hello-world",
  description: 'Waits briefly, then greets. Pass {"fail": true} to see a failed run.',
  async run(payload, ctx) {
    const delayMs = Math.min(payload?.delayMs ?? 500, 10_000);
    ctx.logger.info("Waiting before greeting", { delayMs });
    await ctx.sleep(delayMs);
    if (payload?.fail) throw new Error(`hello-world was asked to fail (name: ${payload.name ?? "anonymous"})`);
    const greeting = `Hello, ${payload?.name ?? "world"}!`;
    ctx.logger.info(greeting);
    return { greeting };
  },
});
