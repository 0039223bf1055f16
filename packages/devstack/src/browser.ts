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
 * What a user would see go wrong on the pages it watches: console errors and warnings, uncaught page
 * errors, Content-Security-Policy violations (reported by a `securitypolicyviolation` listener installed
 * before any page script), responses of 400 or more (a resource the console reports as "Failed to load
 * resource" included) and failed requests. Long-polls a page aborts when it navigates away are not
 * problems. Several pages may share one watcher; a test that provokes a problem on purpose says so with
 * `expect`.
 */
export class BrowserProblems {
  #found: string[] = [];
  #expected: RegExp[] = [];

  /** Starts watching `page` (before it navigates); returns it. */
  async watch(page: Page): Promise<Page> {
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        const where = `${event.sourceFile}:${event.lineNumber}`;
        console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
      });
    });
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        this.#found.push(`${page.url()} console.${message.type()}: ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => this.#found.push(`${page.url()} page error: ${error.message}`));
    page.on("response", (response) => {
      if (response.status() >= 400) this.#found.push(`${page.url()} ${response.status()} ${response.url()}`);
    });
    page.on("requestfailed", (request) => {
      const failure = request.failure()?.errorText ?? "";
      if (!failure.includes("ERR_ABORTED"))
        this.#found.push(`${page.url()} request failed: ${request.url()} ${failure}`);
    });
    return page;
  }

  /** A new page of `browser`, watched. */
  async newPage(browser: Browser, options?: Parameters<Browser["newPage"]>[0]): Promise<Page> {
    return this.watch(await browser.newPage(options));
  }

  /** A problem the running test causes on purpose (forgotten at the next `take`). */
  expect(pattern: RegExp): void {
    this.#expected.push(pattern);
  }

  /** The unexpected problems found since the last call. */
  take(): string[] {
    const found = this.#found.splice(0).filter((problem) => !this.#expected.some((pattern) => pattern.test(problem)));
    this.#expected = [];
    return found;
  }
}
