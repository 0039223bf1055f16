import { defineConfig } from "vite";

export default defineConfig({
  base: "./",
  logLevel: "warn",
  build: { minify: true, reportCompressedSize: false },
  plugins: [
    {
      // In the workspace the SDK resolves @runfeed/core's source; its modules are pure, so unused ones
      // (server-side zod schemas) drop out, as in the published SDK build (docs/decisions/060-sdk-packaging.md).
      name: "runfeed-core-is-pure",
      transform(code, id) {
        return /[\\/]packages[\\/]core[\\/]src[\\/]/.test(id)
          ? { code, moduleSideEffects: false, map: null }
          : undefined;
      },
    },
  ],
});
