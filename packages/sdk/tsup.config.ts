import { defineConfig } from "tsup";

/**
 * Publishes one ESM file plus bundled types. @runfeed/core is private, so it is bundled in
 * (docs/decisions/060-sdk-packaging.md); its modules are pure, so they are marked side-effect free and
 * whatever the SDK does not use (zod schemas, server helpers) is dropped.
 */
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  platform: "neutral",
  target: "es2022",
  sourcemap: true,
  clean: true,
  treeshake: true,
  noExternal: ["@runfeed/core"],
  external: ["@electric-sql/client", "jose"],
  dts: true,
  esbuildPlugins: [
    {
      name: "runfeed-core-is-pure",
      setup(build) {
        const inCore = (path: string) => /[\\/]packages[\\/]core[\\/]src[\\/]/.test(path);
        build.onResolve({ filter: /.*/ }, async (args) => {
          if (args.pluginData === "core-is-pure") return undefined;
          if (args.path !== "@runfeed/core" && !inCore(args.importer)) return undefined;
          const result = await build.resolve(args.path, {
            kind: args.kind,
            importer: args.importer,
            resolveDir: args.resolveDir,
            pluginData: "core-is-pure",
          });
          return result.errors.length > 0 ? undefined : { ...result, sideEffects: !inCore(result.path) };
        });
      },
    },
  ],
});
