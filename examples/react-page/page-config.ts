/** Vite settings for the page; `build.ts` (tests) and vite.config.ts share them. */
import { fileURLToPath } from "node:url";
import type { InlineConfig } from "vite";

export type HooksPackage = "runfeed" | "trigger";

const HOOKS_MODULE: Record<HooksPackage, string> = {
  runfeed: "@runfeed/react-hooks",
  trigger: "@trigger.dev/react-hooks",
};

export const PAGE_ROOT = fileURLToPath(new URL(".", import.meta.url));

export function pageConfig(hooks: HooksPackage): InlineConfig {
  return {
    root: PAGE_ROOT,
    base: "./",
    logLevel: "warn",
    resolve: { alias: { "realtime-hooks": HOOKS_MODULE[hooks] } },
    esbuild: { jsx: "automatic" },
    build: { sourcemap: false, minify: true, reportCompressedSize: false },
  };
}
