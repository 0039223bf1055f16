/** Vite settings for the page; `build.ts` (tests) and vite.config.ts share them. */
import { fileURLToPath } from "node:url";
import type { InlineConfig, Plugin } from "vite";

export type HooksPackage = "runfeed" | "trigger";

const HOOKS_MODULE: Record<HooksPackage, string> = {
  runfeed: "@runfeed/react-hooks",
  trigger: "@trigger.dev/react-hooks",
};

export const PAGE_ROOT = fileURLToPath(new URL(".", import.meta.url));

/**
 * In the workspace the SDK resolves @runfeed/core's source, whose index also carries server-side zod
 * schemas. Its modules are pure, so mark them side-effect free and let unused ones drop out, as the
 * published SDK build does (docs/decisions/060-sdk-packaging.md).
 */
export const coreIsPure: Plugin = {
  name: "runfeed-core-is-pure",
  transform(_code, id) {
    return /[\\/]packages[\\/]core[\\/]src[\\/]/.test(id)
      ? { code: _code, moduleSideEffects: false, map: null }
      : undefined;
  },
};

export function pageConfig(hooks: HooksPackage): InlineConfig {
  return {
    root: PAGE_ROOT,
    base: "./",
    logLevel: "warn",
    plugins: [coreIsPure],
    resolve: { alias: { "realtime-hooks": HOOKS_MODULE[hooks] } },
    esbuild: { jsx: "automatic" },
    build: { sourcemap: false, minify: true, reportCompressedSize: false },
  };
}
