/**
 * Chromium for the browser tests: Debian's `chromium` driven through playwright-core, installed first
 * when missing and we may (prerequisites.ts). A browser test without a browser fails with the one
 * line that says how to get it; it is never skipped.
 */
import { chromium, type Browser } from "playwright-core";
import { CHROMIUM, ensureProgram } from "./prerequisites.js";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureProgram(CHROMIUM, {
    log: (line) => process.stderr.write(`[browser] ${line}\n`),
  });
  return chromium.launch({ executablePath, args: CHROMIUM_ARGS });
}
