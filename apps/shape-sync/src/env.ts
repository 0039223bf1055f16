/**
 * The only module that reads process.env (house rule 7): parsed once with zod into a typed config.
 * `startShapeServer` takes a `ShapeServerConfig`, so tests build one without touching the environment.
 */
import { envBoolean } from "@runfeed/core";
import { z } from "zod";

const intWithDefault = (d: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === "") return d;
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) {
        ctx.addIssue({ code: "custom", message: `expected a non-negative integer, got ${v}` });
        return z.NEVER;
      }
      return n;
    });

const concurrency = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (!v) return { initial: 300, existing: 10_000 };
    try {
      const parsed = z
        .object({ initial: z.number().int().positive(), existing: z.number().int().positive() })
        .partial()
        .parse(JSON.parse(v));
      return { initial: parsed.initial ?? 300, existing: parsed.existing ?? 10_000 };
    } catch {
      ctx.addIssue({
        code: "custom",
        message: `ELECTRIC_MAX_CONCURRENT_REQUESTS must be JSON like {"initial":300,"existing":10000}`,
      });
      return z.NEVER;
    }
  });

export const EnvSchema = z.object({
  DATABASE_URL: z.string().min(1),
  ELECTRIC_PORT: intWithDefault(3000),
  ELECTRIC_SECRET: z.string().optional(),
  ELECTRIC_INSECURE: envBoolean(false),
  ELECTRIC_CACHE_MAX_AGE: intWithDefault(60),
  ELECTRIC_CACHE_STALE_AGE: intWithDefault(300),
  ELECTRIC_LONG_POLL_TIMEOUT: intWithDefault(20_000),
  ELECTRIC_SHAPE_CHUNK_BYTES_THRESHOLD: intWithDefault(10 * 1024 * 1024),
  ELECTRIC_ENABLE_INTEGRATION_TESTING: envBoolean(false),
  ELECTRIC_REPLICATION_STREAM_ID: z
    .string()
    .regex(/^[a-z0-9_]+$/)
    .default("default"),
  ELECTRIC_MAX_CONCURRENT_REQUESTS: concurrency,
  ELECTRIC_STORAGE_DIR: z.string().default("./persistent/shape-sync"),
  ELECTRIC_SQLITE_CACHE_MB: intWithDefault(16),
  ELECTRIC_COMPACTION_THRESHOLD_BYTES: intWithDefault(1024 * 1024),
  ELECTRIC_SQLITE_SYNCHRONOUS: z.enum(["normal", "full"]).default("normal"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
});

export interface ShapeServerConfig {
  databaseUrl: string;
  port: number;
  /** Bind address; loopback by default. */
  host?: string;
  secret?: string;
  cacheMaxAge: number;
  cacheStaleAge: number;
  longPollTimeoutMs: number;
  sseTimeoutMs: number;
  sseKeepAliveMs: number;
  /** How long a table stays in the publication after its last shape goes. */
  unpublishDelayMs: number;
  chunkBytesThreshold: number;
  enableIntegrationTesting: boolean;
  replicationStreamId: string;
  maxConcurrentRequests: { initial: number; existing: number };
  storageDir: string;
  sqliteCacheMb: number;
  /** "full": the shape store survives an OS crash too (one fsync per replicated transaction). */
  sqliteSynchronous: "normal" | "full";
  /** Replicated bytes a shape's log grows by before its older part is compacted; 0 disables. */
  compactionThresholdBytes: number;
  logLevel: "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";
}

export const CONFIG_DEFAULTS = {
  port: 3000,
  cacheMaxAge: 60,
  cacheStaleAge: 300,
  longPollTimeoutMs: 20_000,
  sseTimeoutMs: 60_000,
  sseKeepAliveMs: 21_000,
  unpublishDelayMs: 60_000,
  chunkBytesThreshold: 10 * 1024 * 1024,
  enableIntegrationTesting: false,
  replicationStreamId: "default",
  maxConcurrentRequests: { initial: 300, existing: 10_000 },
  sqliteCacheMb: 16,
  sqliteSynchronous: "normal",
  compactionThresholdBytes: 1024 * 1024,
  logLevel: "info",
} as const satisfies Partial<ShapeServerConfig>;

export class InvalidEnvError extends Error {
  override name = "InvalidEnvError";
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ShapeServerConfig {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`);
    throw new InvalidEnvError(`Invalid environment: ${problems.join("; ")}`);
  }
  const e = parsed.data;
  return {
    ...CONFIG_DEFAULTS,
    databaseUrl: e.DATABASE_URL,
    port: e.ELECTRIC_PORT,
    host: "0.0.0.0",
    secret: e.ELECTRIC_INSECURE ? undefined : e.ELECTRIC_SECRET,
    cacheMaxAge: e.ELECTRIC_CACHE_MAX_AGE,
    cacheStaleAge: e.ELECTRIC_CACHE_STALE_AGE,
    longPollTimeoutMs: e.ELECTRIC_LONG_POLL_TIMEOUT,
    chunkBytesThreshold: e.ELECTRIC_SHAPE_CHUNK_BYTES_THRESHOLD,
    enableIntegrationTesting: e.ELECTRIC_ENABLE_INTEGRATION_TESTING,
    replicationStreamId: e.ELECTRIC_REPLICATION_STREAM_ID,
    maxConcurrentRequests: e.ELECTRIC_MAX_CONCURRENT_REQUESTS,
    storageDir: e.ELECTRIC_STORAGE_DIR,
    sqliteCacheMb: e.ELECTRIC_SQLITE_CACHE_MB,
    compactionThresholdBytes: e.ELECTRIC_COMPACTION_THRESHOLD_BYTES,
    sqliteSynchronous: e.ELECTRIC_SQLITE_SYNCHRONOUS,
    logLevel: e.LOG_LEVEL,
  };
}
