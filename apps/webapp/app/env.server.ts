/**
 * The webapp's configuration: process.env parsed once with zod (server/index.ts calls parseEnv).
 * No other module reads process.env; everything else receives the typed `WebappEnv`.
 * Keep in step with .env.example and the README's configuration table.
 */
import { isIP } from "node:net";
import { envBoolean } from "@runfeed/core";
import { z } from "zod";

export const EnvSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  HOST: z.string().default("127.0.0.1"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3030),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** A request body not complete this long after its headers is a 408 (slow clients); stream writer bodies are exempt. */
  HTTP_REQUEST_TIMEOUT_MS: z.coerce.number().int().positive().default(300_000),
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
  /** Public base URL printed and used in links; defaults to http://HOST:PORT. When set, it is the only origin
   * dashboard forms are accepted from, and https here makes the session cookie `Secure` and turns on HSTS. */
  APP_ORIGIN: z
    .string()
    .url()
    .optional()
    .transform((v) => (v ? new URL(v).origin : undefined)),
  /** Proxies whose X-Forwarded-For/-Proto/-Host are believed: false, true (any), a hop count, or addresses/subnets. */
  TRUST_PROXY: z
    .string()
    .default("false")
    .transform((value, ctx) => {
      const parsed = parseTrustProxy(value);
      if (parsed === undefined) {
        ctx.addIssue({ code: "custom", message: "false, true, a hop count, or comma-separated addresses/subnets" });
        return z.NEVER;
      }
      return parsed;
    }),

  // --- dashboard sign-in (docs/decisions/080-dashboard-security.md)
  /** Signs the session cookie (which holds only a random session id). */
  SESSION_SECRET: z.string().min(16).default("runfeed-dev-session-secret-change-me"),
  /** A session not used for this long ends (default 24 h). */
  SESSION_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(86_400_000),
  /** Lifetime of the public tokens the dashboard's live views use; a refused one is renewed (default 15 min). */
  DASHBOARD_REALTIME_TOKEN_TTL_SECONDS: z.coerce.number().int().positive().default(900),
  /** A session ends this long after sign-in, however active (default 14 days). */
  SESSION_MAX_AGE_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(14 * 86_400_000),
  /** Failed sign-ins are counted over this sliding window (default 15 min). */
  SIGN_IN_THROTTLE_WINDOW_MS: z.coerce.number().int().positive().default(900_000),
  /** Failed sign-ins per account (email, known or not) within the window before 429. */
  SIGN_IN_MAX_FAILURES_PER_ACCOUNT: z.coerce.number().int().positive().default(5),
  /** Failed sign-ins per client address within the window before 429. */
  SIGN_IN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().positive().default(20),
  /** Seeded demo mode: the sign-in form is pre-filled with this email (`pnpm start` sets it). */
  DEMO_SIGN_IN_EMAIL: z
    .string()
    .optional()
    .transform((v) => v || undefined),

  // --- realtime
  /** Live requests allowed at once per environment when the environment sets no limit. */
  REALTIME_DEFAULT_CONCURRENCY_LIMIT: z.coerce.number().int().positive().default(100_000),
  /** A live request refreshes its limiter entry this often; entries of a crashed instance expire after the TTL. */
  REALTIME_LIMITER_ENTRY_TTL_MS: z.coerce.number().int().positive().default(30_000),
  /** What the limiter does when Redis is unreachable: admit ("open") or refuse with 503 ("closed"). */
  REALTIME_LIMITER_REDIS_DOWN_POLICY: z.enum(["open", "closed"]).default("open"),
  /**
   * Below this share of an environment's limit, a live long-poll is admitted without waiting for Redis
   * (registered in the next batch; 0 = always wait). See docs/decisions/050-realtime-concurrency-limiter.md.
   */
  /**
   * An open event stream's credential is authenticated again this often; a refused one (rolled key,
   * revoked key, archived environment) ends its streams (docs/decisions/072-realtime-sse-and-cheap-repoll.md).
   */
  REALTIME_STREAM_RECHECK_MS: z.coerce.number().int().positive().default(2_000),
  REALTIME_LIMITER_OPTIMISTIC_FRACTION: z.coerce.number().min(0).max(1).default(0.5),
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

  // --- realtime backend (docs/decisions/073-realtime-notifier-backend.md)
  /** Which backend serves the run feeds: the shape server ("electric"), the notifier ("native"), or electric compared with native ("shadow"). */
  REALTIME_BACKEND: z.enum(["electric", "native", "shadow"]).default("electric"),
  /** Redis for the "run changed" signals (pub/sub); REDIS_URL when unset. */
  REALTIME_RUNS_PUBSUB_REDIS_URL: z
    .string()
    .url()
    .optional()
    .transform((v) => v || undefined),
  /** A native live request not woken by a signal looks again after this long (backstop; it answers "nothing new" after 20 s). */
  REALTIME_NOTIFIER_LIVE_POLL_TIMEOUT_MS: z.coerce.number().int().positive().default(5_000),
  /** Tag and batch feeds kept resumable on this instance (one working set each); an evicted one is a 409. */
  REALTIME_NOTIFIER_WORKING_SET_MAX_ENTRIES: z.coerce.number().int().positive().default(10_000),
  /** Most runs a native tag or batch feed holds (the newest). */
  REALTIME_NOTIFIER_MAX_LIST_RESULTS: z.coerce.number().int().positive().default(1_000),
  /** Identical tag/batch filters share one resolve + hydrate for this long. */
  REALTIME_NOTIFIER_RUNSET_CACHE_TTL_MS: z.coerce.number().int().min(0).default(1_000),
  /** Filters whose last resolution is kept. */
  REALTIME_NOTIFIER_RUNSET_CACHE_MAX_ENTRIES: z.coerce.number().int().positive().default(10_000),
  /** Tag feeds resolve from their createdAt floor rounded down to this step, so feeds opened a moment apart share. */
  REALTIME_NOTIFIER_RUNSET_CREATED_AT_BUCKET_MS: z.coerce.number().int().positive().default(60_000),
  /** Shadow mode: the share of initial requests also answered by the native backend and compared. */
  REALTIME_SHADOW_SAMPLE_RATE: z.coerce.number().min(0).max(1).default(0.1),

  // --- realtime streams (docs/decisions/081-realtime-streams.md)
  /** Largest stream, in bytes of chunk data; past it a writer gets 413 (default 300 MiB). */
  REALTIME_STREAM_MAX_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(300 * 1024 * 1024),
  /** Most chunks in one stream; 0 = unlimited. */
  REALTIME_STREAM_MAX_CHUNKS: z.coerce.number().int().min(0).default(0),
  /** Largest single chunk (one line of a pipe, one append), in bytes. */
  REALTIME_STREAM_MAX_CHUNK_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** How long streams are kept: archived ones after they ended, live ones after their last write (default 28 days). */
  REALTIME_STREAM_RETENTION_MS: z.coerce
    .number()
    .int()
    .positive()
    .default(28 * 86_400_000),
  /** A stream with no writer connected and no chunk for this long ends (its writer died). */
  REALTIME_STREAM_IDLE_TIMEOUT_MS: z.coerce.number().int().positive().default(60_000),
  /** How often streams are checked for ending, archiving and deletion. */
  REALTIME_STREAM_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),

  // --- write side
  /** Largest serialised run metadata accepted (bytes). */
  TASK_RUN_METADATA_MAXIMUM_SIZE: z.coerce.number().int().positive().default(262_144),

  // --- write pipeline (docs/decisions/092-write-pipeline.md)
  /** Redis streams per buffered class; a run's items always land in the same one (by run id). */
  WRITE_PIPELINE_PARTITIONS: z.coerce.number().int().min(1).max(64).default(4),
  /** Run the drain in this process (it can also run alone: server/drain.ts). Several instances share the streams. */
  WRITE_PIPELINE_DRAIN_ENABLED: envBoolean(true),
  /** Most stream entries one drain batch of the high class applies (an entry is one request's items for one partition). */
  WRITE_PIPELINE_BATCH_SIZE: z.coerce.number().int().positive().default(200),
  /**
   * The same for the low class: its entries are large (up to a thousand log lines each), and a batch of
   * them holds the drain's event loop while it is decoded and encoded, metadata batches waiting behind it.
   */
  WRITE_PIPELINE_LOW_BATCH_SIZE: z.coerce.number().int().positive().default(20),
  /** Pause between batches of the high class (metadata) while its streams are short. */
  WRITE_PIPELINE_HIGH_INTERVAL_MS: z.coerce.number().int().positive().default(200),
  /** Pause between batches of the low class (log lines, events) while its streams are short. */
  WRITE_PIPELINE_LOW_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),
  /** A stream longer than this (entries) is drained without pauses: eager flush. */
  WRITE_PIPELINE_EAGER_BACKLOG: z.coerce.number().int().positive().default(500),
  /** A drain owns a stream for this long past its last sign of life; then another takes it over. */
  WRITE_PIPELINE_LEASE_MS: z.coerce.number().int().positive().default(5_000),
  /** Postgres connections of the drain's apply transactions, per class (this instance: one pool each). */
  WRITE_PIPELINE_APPLY_POOL_SIZE: z.coerce.number().int().positive().default(4),
  /** Low class: past this many queued entries (all its streams) new writes get 429 with retry-after. */
  WRITE_PIPELINE_LOW_HIGH_WATER: z.coerce.number().int().positive().default(20_000),
  /** High class: past this many queued entries a write waits for the drain before it is accepted… */
  WRITE_PIPELINE_HIGH_SLOW_WATER: z.coerce.number().int().positive().default(10_000),
  /** …and past this many (or after waiting WRITE_PIPELINE_HIGH_MAX_WAIT_MS) it gets 429 with retry-after. */
  WRITE_PIPELINE_HIGH_HIGH_WATER: z.coerce.number().int().positive().default(40_000),
  WRITE_PIPELINE_HIGH_MAX_WAIT_MS: z.coerce.number().int().positive().default(2_000),
  /** How often queue depths are read from Redis (backpressure and metrics). */
  WRITE_PIPELINE_DEPTH_INTERVAL_MS: z.coerce.number().int().positive().default(250),
  /** Buffered requests (metadata and log batches) one instance handles at once while no critical write flows. */
  WRITE_PIPELINE_ACCEPT_CONCURRENCY: z.coerce.number().int().positive().default(8),
  /** While critical writes flow: the largest share of an instance's time buffered requests take (0–1]. */
  WRITE_PIPELINE_BUFFERED_SHARE: z.coerce.number().gt(0).max(1).default(0.1),
  /** An instance counts as serving critical writes until this long after its last one. */
  WRITE_PIPELINE_CRITICAL_QUIET_MS: z.coerce.number().int().nonnegative().default(200),
  /** Longest a buffered request waits for its turn behind critical writes before it gets 429. */
  WRITE_PIPELINE_ADMISSION_MAX_WAIT_MS: z.coerce.number().int().positive().default(2_000),

  /** Start the example worker that executes queued runs (apps/webapp/app/worker). */
  WORKER_ENABLED: envBoolean(true),
  /** How often a worker stamps the attempts it executes (and notices cancels). */
  WORKER_HEARTBEAT_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),
  /** An attempt with no heartbeat for this long is retried, or its run CRASHED when no attempts are left. */
  WORKER_HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().positive().default(30_000),
  /** How long a task may run on after its signal fired (cancel, timeout) before it is cut off. */
  WORKER_CANCEL_GRACE_PERIOD_MS: z.coerce.number().int().min(0).default(5_000),
  /** How often the engine's recurring sweep (crash detection, catch-up of every timer) runs. */
  ENGINE_SWEEP_INTERVAL_MS: z.coerce.number().int().positive().default(1_000),
  /** How often the durable timers (graphile-worker) look for timers that became due. */
  ENGINE_TIMER_POLL_INTERVAL_MS: z.coerce.number().int().positive().default(100),
});

export type WebappEnv = z.infer<typeof EnvSchema>;

/** Express's `trust proxy` values, as an env string: "false", "true", "2", "loopback, 10.0.0.0/8". */
export type TrustProxy = boolean | number | string[];

const PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);

function parseTrustProxy(value: string): TrustProxy | undefined {
  const trimmed = value.trim();
  if (trimmed === "" || trimmed === "false" || trimmed === "0") return false;
  if (trimmed === "true") return true;
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const entries = trimmed.split(",").map((entry) => entry.trim());
  const valid = entries.every((entry) => {
    if (PROXY_NAMES.has(entry)) return true;
    const [address, bits, ...rest] = entry.split("/");
    if (rest.length || !address || isIP(address) === 0) return false;
    return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (isIP(address) === 4 ? 32 : 128));
  });
  return valid ? entries : undefined;
}

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
