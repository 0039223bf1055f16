export { startEmbeddedPostgres, type RunningPostgres } from "./postgres.js";
export {
  startRedisServer,
  hasRedisServer,
  freePort,
  waitForPort,
  RedisNotFoundError,
  type RunningRedis,
} from "./redis.js";
export { postgresServer, redisServer, withAdmin, createDatabase, type RunningServer } from "./services.js";
export { shapeSyncEntry, spawnShapeSync, type ShapeSyncProcess } from "./shape-sync.js";
