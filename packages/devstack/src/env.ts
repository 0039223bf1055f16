/** The start command's configuration, parsed once from process.env (see .env.example). */
import { z } from "zod";

export const StartEnvSchema = z.object({
  /** Use this Postgres instead of the embedded one (needs wal_level=logical). */
  DATABASE_URL: z.string().url().optional(),
  /** Use this Redis instead of spawning redis-server. */
  REDIS_URL: z.string().url().optional(),
  /** Use this shape server (ours elsewhere, or the real Electric) instead of starting apps/shape-sync. */
  ELECTRIC_ORIGIN: z.string().url().optional(),
  PORT: z.coerce.number().int().min(1).max(65535).default(3030),
  ELECTRIC_PORT: z.coerce.number().int().min(1).max(65535).default(3060),
  EMBEDDED_POSTGRES_PORT: z.coerce.number().int().min(1).max(65535).default(54329),
  /** Where embedded Postgres and the shape logs keep their data between runs. */
  RUNFEED_DATA_DIR: z.string().default(".data"),
  /** fsync policy of the started redis-server's append-only file (kept in RUNFEED_DATA_DIR/redis): "always"
   * keeps every acknowledged write-pipeline item through a machine crash; "everysec" risks the last second. */
  REDIS_APPENDFSYNC: z.enum(["always", "everysec", "no"]).default("always"),
  /** Trigger the CSV import example once at start so the dashboard shows live progress. */
  SEED_DEMO_SCENARIO: z.enum(["true", "false"]).default("true"),
});

export type StartEnv = z.infer<typeof StartEnvSchema>;

export function parseStartEnv(source: Record<string, string | undefined>): StartEnv {
  const result = StartEnvSchema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new Error(`Invalid environment: ${problems.join("; ")}`);
  }
  return result.data;
}
