/**
 * Test harnesses shared across packages, as vitest fixtures (`test.extend`): a test names what it
 * needs in its arguments and gets one made for it and removed after it. Tests import these from
 * @runfeed/devstack/fixtures, never from another package's `test/` folder
 * (packages/devstack/test/boundaries.test.ts).
 */
import { test } from "vitest";
import { startCuttableProxy } from "./cuttable-proxy.js";
import { startScriptedFeed, type ScriptedFeed } from "./scripted-feed.js";
import { startStack, type DevStack } from "./stack.js";

export { startCuttableProxy } from "./cuttable-proxy.js";
export { startScriptedFeed, wireRun, type RecordedRequest, type ScriptedFeed } from "./scripted-feed.js";
export type { DevStack } from "./stack.js";

export interface FeedFixtures {
  /** A scripted Electric shape server (scripted-feed.ts), new for each test. */
  feed: ScriptedFeed;
}

/** `test` with a scripted shape feed: `feedTest("…", async ({ feed }) => …)`. */
export const feedTest = test.extend<FeedFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixtures a fixture needs from this pattern
  feed: async ({}, use) => {
    const feed = await startScriptedFeed();
    await use(feed);
    await feed.close();
  },
});

export interface ProxyFixtures {
  /** Starts a TCP proxy in front of a URL (cuttable-proxy.ts); every one started is closed after the test. */
  cuttableProxy: typeof startCuttableProxy;
}

/** `test` with cuttable TCP proxies: `proxyTest("…", async ({ cuttableProxy }) => …)`. */
export const proxyTest = test.extend<ProxyFixtures>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixtures a fixture needs from this pattern
  cuttableProxy: async ({}, use) => {
    const started: Array<{ close(): Promise<void> }> = [];
    await use(async (target) => {
      const proxy = await startCuttableProxy(target);
      started.push(proxy);
      return proxy;
    });
    await Promise.all(started.map((proxy) => proxy.close()));
  },
});

export interface StackFixtures {
  /** Settings for the stack's webapp and worker; a file sets its own with `stackTest.scoped` (below). */
  stackSettings: Record<string, string>;
  /** The whole system as child processes (stack.ts), one per test file, shared by its tests. */
  stack: DevStack;
}

/**
 * `test` with the running system (and proxyTest's cuttable proxies):
 * `stackTest("…", async ({ stack }) => …)`. Different settings:
 * `stackTest.scoped({ stackSettings: { NAME: "value" } })` at the top of the file (`extend` does not
 * reach a file-scoped fixture in vitest 3).
 */
export const stackTest = proxyTest.extend<StackFixtures>({
  stackSettings: [{}, { scope: "file" }],
  stack: [
    async ({ stackSettings }, use) => {
      const stack = await startStack(stackSettings);
      await use(stack);
      await stack.close();
    },
    { scope: "file" },
  ],
});
