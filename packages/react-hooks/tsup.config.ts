import { defineConfig } from "tsup";

/** One ESM file plus types; @runfeed/sdk and react stay external (docs/decisions/060-sdk-packaging.md). */
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  platform: "neutral",
  target: "es2022",
  sourcemap: true,
  clean: true,
  dts: true,
  external: ["@runfeed/sdk", "react", "react/jsx-runtime"],
});
