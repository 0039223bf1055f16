/**
 * Starts a real webapp (Express + Remix via Vite, real Postgres and Redis) on a free port for a test file.
 */
import { exampleTasks } from "@runfeed/example-tasks";
import { createTestDatabase, testRedisPrefix, testServices, type TestDatabase } from "@runfeed/devstack/test-context";
import { parseEnv } from "../../app/env.server.js";
import { createWebapp, listen, type Webapp } from "../../server/app.js";
import { seedProject, type SeededProject } from "../../app/services/seed.server.js";

export interface TestWebapp {
  url: string;
  webapp: Webapp;
  database: TestDatabase;
  /** A seeded org/project with dev, staging and prod environments. */
  project: SeededProject;
  close(): Promise<void>;
}

export interface StartTestWebappOptions {
  /** Runs once the database exists, before the webapp starts (e.g. start a shape server on it); returns more env overrides. */
  beforeStart?: (database: TestDatabase) => Promise<Record<string, string>>;
}

export async function startTestWebapp(
  overrides: Record<string, string> = {},
  options: StartTestWebappOptions = {},
): Promise<TestWebapp> {
  const database = await createTestDatabase();
  const { redisUrl } = testServices();
  const extra = options.beforeStart ? await options.beforeStart(database) : {};
  const env = parseEnv({
    NODE_ENV: "test",
    LOG_LEVEL: "warn",
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: testRedisPrefix(),
    PORT: "0",
    WORKER_ENABLED: "false",
    ...overrides,
    ...extra,
  });
  const webapp = await createWebapp(env, { tasks: exampleTasks });
  const { url, server } = await listen(webapp, 0, "127.0.0.1");
  const project = await seedProject(webapp.services.prisma, {
    orgSlug: "test-org",
    orgTitle: "Test Org",
    projectSlug: "test-project",
    projectName: "Test project",
  });
  return {
    url,
    webapp,
    database,
    project,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await webapp.close();
      await database.drop();
    },
  };
}
