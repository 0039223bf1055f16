/**
 * Critical writes first (app/services/writePipeline/criticalFirst.server.ts): buffered requests are
 * admitted up to a concurrency cap while no critical write flows, one at a time and spaced out while
 * critical writes flow, high before low, and refused after waiting too long.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { CriticalFirst } from "../../app/services/writePipeline/criticalFirst.server.js";

const gate = (options: Partial<ConstructorParameters<typeof CriticalFirst>[0]> = {}) =>
  new CriticalFirst({ concurrency: 2, share: 0.1, quietMs: 50, maxWaitMs: 2_000, ...options });

/** Whether a promise has settled after the microtasks and timers already due have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await sleep(0);
  return done;
}

describe("CriticalFirst", () => {
  it("admits up to `concurrency` buffered requests at once while no critical write flows", async () => {
    const g = gate();
    const first = await g.buffered("high");
    const second = await g.buffered("low");
    expect(first).toBeTypeOf("function");
    expect(second).toBeTypeOf("function");
    const third = g.buffered("high");
    expect(await settled(third)).toBe(false);
    first!();
    expect(await third).toBeTypeOf("function");
  });

  it("admits one buffered request at a time while a critical write is in flight, up to the cap after the quiet time", async () => {
    const g = gate();
    const endCritical = g.critical();
    expect(g.criticalActive).toBe(true);
    const first = await g.buffered("high");
    expect(first).toBeTypeOf("function");
    const second = g.buffered("high");
    expect(await settled(second)).toBe(false); // concurrency is 2, but critical writes flow
    const ended = performance.now();
    endCritical();
    expect(await second).toBeTypeOf("function"); // quiet again: the cap applies (first still in flight)
    expect(performance.now() - ended).toBeGreaterThanOrEqual(45); // quietMs, less timer rounding
  });

  it("while critical writes flow, spaces buffered requests so they take at most `share` of the time", async () => {
    const g = gate({ quietMs: 60_000 });
    g.critical()(); // critical writes flowed just now: active for quietMs
    const release = await g.buffered("high"); // nothing in flight: admitted at once
    expect(release).toBeTypeOf("function");
    await sleep(40);
    release!(); // took ≥ 40 ms: the next waits ≥ 40 × 0.9 / 0.1 = 360 ms
    const next = g.buffered("high");
    await sleep(30);
    expect(await settled(next)).toBe(false);
    expect(await next).toBeTypeOf("function");
  });

  it("lets high requests go before low ones that waited longer", async () => {
    const g = gate({ concurrency: 1 });
    const release = await g.buffered("low");
    const order: string[] = [];
    const admitted = (urgency: "high" | "low") =>
      g.buffered(urgency).then((r) => {
        order.push(urgency);
        return r;
      });
    const low = admitted("low");
    const high = admitted("high");
    release!();
    (await high)!();
    (await low)!();
    expect(order).toEqual(["high", "low"]);
  });

  it("refuses a buffered request that waited maxWaitMs (resolves undefined)", async () => {
    const g = gate({ maxWaitMs: 50 });
    const endCritical = g.critical();
    expect(await g.buffered("high")).toBeTypeOf("function"); // holds the one slot
    expect(await g.buffered("low")).toBeUndefined();
    expect(g.waiting).toBe(0);
    endCritical();
  });
});
