/**
 * Test harnesses shared across packages, as vitest fixtures (`test.extend`): a test names what it
 * needs in its arguments and gets one made for it and removed after it. Tests import these from
 * @runfeed/devstack/fixtures, never from another package's `test/` folder
 * (packages/devstack/test/boundaries.test.ts).
 */
import { afterAll, beforeAll, test } from "vitest";
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
  /** The whole system as child processes (stack.ts), one per test file, shared by its tests. */
  stack: DevStack;
}

/** This test file's stack, once asked for (vitest evaluates this module anew for each test file). */
let fileStack: Promise<DevStack> | undefined;

const stackOfThisFile = (settings: Record<string, string> = {}) => (fileStack ??= startStack(settings));

async function closeStackOfThisFile() {
  const started = fileStack;
  fileStack = undefined;
  await (await started?.catch(() => undefined))?.close();
}

/**
 * Starts this file's stack before its first test, in a `beforeAll` with room for a slow start (rather
 * than inside the first test's timeout), with `settings` for its webapp and worker (names from
 * apps/webapp/app/env.server.ts), and stops it after the last test. Call it once at the top of a file
 * that uses stackTest; without it the first test that asks for `stack` starts one with no settings.
 */
export function setupStack(settings: Record<string, string> = {}, startTimeoutMs = 180_000): void {
  beforeAll(async () => void (await stackOfThisFile(settings)), startTimeoutMs);
  afterAll(closeStackOfThisFile);
}

/**
 * `test` with the running system (and proxyTest's cuttable proxies):
 * `stackTest("…", async ({ stack }) => …)`, after `setupStack()` at the top of the file.
 */
export const stackTest = proxyTest.extend<StackFixtures>({
  stack: [
    // biome-ignore lint/correctness/noEmptyPattern: vitest reads the fixtures a fixture needs from this pattern
    async ({}, use) => {
      await use(await stackOfThisFile());
      await closeStackOfThisFile();
    },
    { scope: "file" },
  ],
});
