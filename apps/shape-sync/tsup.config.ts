import { defineConfig } from "tsup";

/**
 * The shape server as one ESM file for `node dist/main.js` (docs/decisions/032). Bundled without
 * esbuild's keepNames (which tsx forces on): keepNames gives every closure created at runtime an own
 * `name` property, ~256 bytes each, several per waiting request. @runfeed/core (TypeScript source) is
 * bundled in; every npm dependency stays external.
 */
export default defineConfig({
  entry: ["src/main.ts"],
  format: ["esm"],
  platform: "node",
  target: "node20",
  sourcemap: true,
  clean: false, // overwrite in place: a concurrent reader never finds dist/ empty
  noExternal: [/^@runfeed\//],
  skipNodeModulesBundle: true,
});
