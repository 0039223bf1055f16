/** What the global setup (test-setup.ts) provides to every test file (test-context.ts reads it). */
declare module "vitest" {
  export interface ProvidedContext {
    /** Postgres server URL without a database name. */
    databaseServerUrl: string;
    /** The migrated database each test file's database is cloned from; one per run. */
    templateDatabase: string;
    redisUrl: string;
  }
}

export {};
