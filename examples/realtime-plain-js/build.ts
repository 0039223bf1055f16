/** Builds the plain-JS page into `outDir` (used by the browser tests). */
import { fileURLToPath } from "node:url";
import { build } from "vite";

export async function buildPlainJsPage(outDir: string): Promise<void> {
  await build({
    root: fileURLToPath(new URL(".", import.meta.url)),
    base: "./",
    logLevel: "warn",
    configFile: false,
    build: { outDir, emptyOutDir: true, minify: true, reportCompressedSize: false },
  });
}
