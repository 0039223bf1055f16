/**
 * The webapp's configuration: process.env parsed once with zod (server/index.ts calls parseEnv).
 * No other module reads process.env; everything else receives the typed `WebappEnv`.
 * Keep in step with .env.example and the README's configuration table.
 */
import { z } from "zod";

const bool = z.enum(["true", "false", "1", "0"]).transform((v) => v === "true" || v === "1");

export const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3030),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  DATABASE_URL: z.string().url(),
  DATABASE_POOL_SIZE: z.coerce.number().int().positive().default(20),
  REDIS_URL: z.string().url(),
  /** Key prefix for everything this instance writes to Redis (tests isolate on it). */
  REDIS_KEY_PREFIX: z.string().default("runfeed:"),
  /** The Electric-protocol shape server: apps/shape-sync or the real Electric service. */
  ELECTRIC_ORIGIN: z.string().url().default("http://127.0.0.1:3060"),
  /** Sent as `secret` on every shape request when the shape server (ours or Electric) runs with a secret. */
  ELECTRIC_SECRET: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  /** Signs dashboard session cookies. */
  SESSION_SECRET: z.string().min(16).default("runfeed-dev-session-secret-change-me"),
  /** Public base URL printed and used in links; defaults to http://HOST:PORT. */
  APP_ORIGIN: z.string().url().optional(),

  // --- realtime
  /** Live requests allowed at once per environment when the environment sets no limit. */
  REALTIME_DEFAULT_CONCURRENCY_LIMIT: z.coerce.number().int().positive().default(100_000),
  /** A live request refreshes its limiter entry this often; entries of a crashed instance expire after the TTL. */
  REALTIME_LIMITER_ENTRY_TTL_MS: z.coerce.number().int().positive().default(30_000),
  /** What the limiter does when Redis is unreachable: admit ("open") or refuse with 503 ("closed"). */
  REALTIME_LIMITER_REDIS_DOWN_POLICY: z.enum(["open", "closed"]).default("open"),
  /** Oldest createdAt floor a tag feed may ask for (default 24 h). */
  REALTIME_MAXIMUM_CREATED_AT_FILTER_AGE_IN_MS: z.coerce.number().int().positive().default(86_400_000),
  /** createdAt floors cached per shape handle: fresh for a week, stale for two. */
  REALTIME_CREATED_AT_CACHE_FRESH_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(7 * 86_400_000),
  REALTIME_CREATED_AT_CACHE_STALE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(14 * 86_400_000),

  // --- write side
  /** Largest serialised run metadata accepted (bytes). */
  TASK_RUN_METADATA_MAXIMUM_SIZE: z.coerce.number().int().positive().default(262_144),
  /** Start the example worker that executes queued runs (apps/webapp/app/worker). */
  WORKER_ENABLED: bool.default(true),
});

export type WebappEnv = z.infer<typeof EnvSchema>;

export class InvalidEnvError extends Error {
  override name = "InvalidEnvError";
}

export function parseEnv(source: Record<string, string | undefined>): WebappEnv {
  const result = EnvSchema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new InvalidEnvError(`Invalid environment: ${problems.join("; ")}`);
  }
  return result.data;
}
