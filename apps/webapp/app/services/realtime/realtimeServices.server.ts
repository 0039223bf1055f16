/**
 * Wiring of the realtime feed's per-instance objects (style rule 8: classes take plain options,
 * this module takes the env). Built once per webapp instance in createServices.
 */
import type { Redis } from "ioredis";
import type { WebappEnv } from "../../env.server";
import type { Logger } from "../logger.server";
import type { Metrics } from "../metrics.server";
import { ConcurrencyLimiter } from "./concurrencyLimiter.server";
import { CreatedAtCache } from "./createdAtCache.server";
import { ShapeUpstream } from "./shapeUpstream.server";
import { StreamCredentialChecks } from "./streamCredentialChecks.server";
import type { Authentication } from "../auth.server";
import { TtlCache } from "../ttlCache.server";
import type { BackendSelection } from "./backendSelection.server";
import { createNativeRealtime, type NativeRealtime } from "./native/nativeServices.server";
import type { RunSignals } from "./native/runSignals.server";

/** How long the feeds remember an authentication (apiRoute.server.ts, rememberedAuthentication). */
export const FEED_AUTHENTICATION_TTL_MS = 1_000;

export interface RealtimeServices {
  limiter: ConcurrencyLimiter;
  createdAtCache: CreatedAtCache;
  /** Requests to the shape server (keep-alive, live long-polls shared while in flight). */
  upstream: ShapeUpstream;
  /** The feeds' remembered authentications, by credential. */
  authentications: TtlCache<Promise<Authentication>>;
  /**
   * Resource lookups in flight, per remembered authentication and route: a woken burst of re-polls
   * with one token reads its run once, not once per client (feedRoute.server.ts).
   */
  lookupsInFlight: WeakMap<Authentication, Map<string, Promise<unknown>>>;
  /** Which backend serves an organisation's run feeds (REALTIME_BACKEND, or its override). */
  backends: BackendSelection;
  /** The native backend: Postgres reads, shared resolutions, working sets (nothing opened until used). */
  native: NativeRealtime;
  /** Open event streams' credentials, authenticated again every REALTIME_STREAM_RECHECK_MS. */
  streamChecks: StreamCredentialChecks;
  /**
   * A key was rolled or revoked on this instance: forget every remembered authentication and check
   * the open streams' credentials now (other instances: within the remembered second and the interval).
   */
  forgetCredentials(): void;
  close(): Promise<void>;
}

export function createRealtimeServices(deps: {
  env: WebappEnv;
  redis: Redis;
  logger: Logger;
  metrics: Metrics;
  backends: BackendSelection;
  signals: RunSignals;
}): RealtimeServices {
  const { env, redis, logger, metrics, backends, signals } = deps;
  // Its own connection: the hung-Redis watchdog may drop it, and limiter traffic is not queued behind
  // others. Auto-pipelining writes every command issued in the same tick with one syscall: a thousand
  // live polls woken by one change release their slots in a few writes instead of a thousand
  // (bench/realtime measured the per-command socket write as the proxy's largest response-path cost).
  const limiterRedis = redis.duplicate({ enableAutoPipelining: true });
  limiterRedis.on("error", (error) => logger.debug({ err: error.message }, "limiter redis connection error"));
  const limiter = new ConcurrencyLimiter({
    redis: limiterRedis,
    keyPrefix: env.REDIS_KEY_PREFIX,
    entryTtlMs: env.REALTIME_LIMITER_ENTRY_TTL_MS,
    redisDownPolicy: env.REALTIME_LIMITER_REDIS_DOWN_POLICY,
    optimisticFraction: env.REALTIME_LIMITER_OPTIMISTIC_FRACTION,
    metrics,
    logger,
  });
  const createdAtCache = new CreatedAtCache({
    redis,
    keyPrefix: env.REDIS_KEY_PREFIX,
    freshMs: env.REALTIME_CREATED_AT_CACHE_FRESH_MS,
    staleMs: env.REALTIME_CREATED_AT_CACHE_STALE_MS,
  });
  const upstream = new ShapeUpstream({ metrics });
  const native = createNativeRealtime({ env, signals, metrics });
  const authentications = new TtlCache<Promise<Authentication>>({
    ttlMs: FEED_AUTHENTICATION_TTL_MS,
    maxEntries: 10_000,
  });
  // A refused stream credential is forgotten at once: its client's reconnect is refused, not admitted
  // from memory for the rest of the remembered second.
  const streamChecks = new StreamCredentialChecks({
    intervalMs: env.REALTIME_STREAM_RECHECK_MS,
    onRefused: (key) => authentications.delete(key),
  });
  return {
    limiter,
    createdAtCache,
    upstream,
    authentications,
    lookupsInFlight: new WeakMap(),
    backends,
    native,
    streamChecks,
    forgetCredentials: () => {
      authentications.clear();
      void streamChecks.recheck();
    },
    close: async () => {
      streamChecks.stop();
      upstream.close();
      limiter.stop();
      limiterRedis.disconnect();
      await native.close();
    },
  };
}

/** Live realtime requests per environment across all instances (the dashboard's usage view). */
export function realtimeUsage(
  services: { realtime: RealtimeServices },
  environmentIds: readonly string[],
): Promise<Record<string, number>> {
  return services.realtime.limiter.usage(environmentIds);
}
