import { defineConfig } from "vitest/config";

// One run covers every package and app. Services (Postgres, Redis) are started once by the
// global setup; each test file gets its own database and Redis prefix (packages/devstack).
export default defineConfig({
  test: {
    globalSetup: ["./packages/devstack/src/test-setup.ts"],
    include: ["apps/*/**/*.test.{ts,tsx}", "packages/*/**/*.test.{ts,tsx}", "examples/*/**/*.test.{ts,tsx}"],
    exclude: ["**/node_modules/**", "**/dist/**", "**/build/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ["default"],
  },
});
