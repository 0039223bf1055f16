/**
 * Tasks that show the run lifecycle's states in the feed (docs/decisions/093-run-lifecycle-timers.md):
 * a retry, a long run that honours cancel, and a worker crash.
 */
import { defineTask } from "@runfeed/sdk";

/** Fails its first attempt and succeeds on the second: REATTEMPTING, then COMPLETED with 2 attempts. */
export const flakyOnce = defineTask<{ message?: string }, { attempt: number; message: string }>({
  id: "flaky-once",
  description: "Fails its first attempt, then succeeds on the retry (2 attempts, 1–2 s backoff).",
  retry: { maxAttempts: 2, minTimeoutInMs: 1_000, maxTimeoutInMs: 2_000, factor: 2, randomize: true },
  async run(payload, ctx) {
    await ctx.sleep(300);
    if (ctx.run.attempt === 1) throw new Error("flaky-once fails its first attempt on purpose");
    return { attempt: ctx.run.attempt, message: payload?.message ?? "succeeded on the retry" };
  },
});

/** Runs for `seconds` (default 30), one tick a second in its metadata, and stops when canceled. */
export const sleepy = defineTask<{ seconds?: number }, { slept: number }>({
  id: "sleepy",
  description: "Runs for 30 s (payload {seconds}), ticking its metadata; cancel stops it at once.",
  async run(payload, ctx) {
    const seconds = Math.max(0, Math.min(payload?.seconds ?? 30, 3_600));
    for (let slept = 0; slept < seconds; slept++) {
      // Rejects with the signal's reason as soon as the run is canceled or times out.
      await ctx.sleep(1_000);
      await ctx.metadata.set("slept", slept + 1);
    }
    return { slept: seconds };
  },
});

/**
 * Kills the worker process that runs it, mid-run (after `afterMs`, default 1 s): the heartbeats stop,
 * and the engine retries the run or marks it CRASHED. Only for a worker in its own process.
 */
export const crashy = defineTask<{ afterMs?: number }, never>({
  id: "crashy",
  description: "Kills its worker process mid-run (SIGKILL): the run is retried, then CRASHED.",
  retry: { maxAttempts: 2, minTimeoutInMs: 500, maxTimeoutInMs: 1_000 },
  async run(payload, ctx) {
    if (!ctx.ownProcess) throw new Error("crashy only kills a worker that runs in a process of its own");
    await ctx.sleep(Math.max(0, Math.min(payload?.afterMs ?? 1_000, 60_000)));
    process.kill(process.pid, "SIGKILL");
    return await new Promise<never>(() => {});
  },
});
