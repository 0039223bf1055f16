/**
 * Per-test-file isolation on the services started by test-setup.ts:
 * a fresh database cloned from the migrated template, and a Redis key prefix of its own.
 */
import { randomBytes } from "node:crypto";
import { inject } from "vitest";
import type {} from "./provided-context.js";
import { createDatabase } from "./services.js";

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export function testServices() {
  return { databaseServerUrl: inject("databaseServerUrl"), redisUrl: inject("redisUrl") };
}

/** Creates `test_<random>` from the migrated template. Drop it in afterAll. */
export function createTestDatabase(): Promise<TestDatabase> {
  return createDatabase(inject("databaseServerUrl"), `test_${randomBytes(6).toString("hex")}`, {
    template: inject("templateDatabase"),
  });
}

/** A Redis key prefix unique to this test file. */
export function testRedisPrefix(): string {
  return `test:${randomBytes(4).toString("hex")}:`;
}
