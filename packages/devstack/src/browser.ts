/**
 * Chromium for the browser tests: Debian's `chromium` driven through playwright-core, installed first
 * when missing and we may (prerequisites.ts). A browser test without a browser fails with the one
 * line that says how to get it; it is never skipped.
 */
import { chromium, type Browser, type Page } from "playwright-core";
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

/**
 * What a user would see go wrong on a page: console errors and warnings, uncaught page errors, and
 * responses of 400 or more (a resource the console reports as "Failed to load resource" included).
 * Long-polls the page aborts when it navigates away are not problems. Collected into `problems`
 * (several pages may share one list), which is returned.
 */
export function watchForProblems(page: Page, problems: string[] = []): string[] {
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") {
      problems.push(`${page.url()} console.${message.type()}: ${message.text()}`);
    }
  });
  page.on("pageerror", (error) => problems.push(`${page.url()} page error: ${error.message}`));
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${page.url()} ${response.status()} ${response.url()}`);
  });
  page.on("requestfailed", (request) => {
    const failure = request.failure()?.errorText ?? "";
    if (!failure.includes("ERR_ABORTED")) problems.push(`${page.url()} request failed: ${request.url()} ${failure}`);
  });
  return problems;
}
