/** Builds the plain-JS page into `outDir` (used by the browser tests). */
import { fileURLToPath } from "node:url";
import { build } from "vite";

export async function buildPlainJsPage(outDir: string): Promise<void> {
  const root = fileURLToPath(new URL(".", import.meta.url));
  await build({ root, configFile: `${root}vite.config.ts`, build: { outDir, emptyOutDir: true } });
}
