/** Builds the page with either hook package into `outDir` (used by the browser tests). */
import { build } from "vite";
import { pageConfig, type HooksPackage } from "./page-config.js";

export async function buildReactPage(hooks: HooksPackage, outDir: string): Promise<void> {
  const config = pageConfig(hooks);
  await build({ ...config, configFile: false, build: { ...config.build, outDir, emptyOutDir: true } });
}
