export { startEmbeddedPostgres, type RunningPostgres } from "./postgres.js";
export { startRedisServer, freePort, waitForPort, type RunningRedis } from "./redis.js";
export { StartError, oneLine } from "./errors.js";
export { ensureProgram, findExecutable, REDIS_SERVER, CHROMIUM, type Program, type System } from "./prerequisites.js";
export { postgresServer, redisServer, withAdmin, createDatabase, type RunningServer } from "./services.js";
export {
  spawnWebapp,
  spawnWorker,
  seedDemo,
  type WebappProcess,
  type ChildHandle,
  type SeededEnvironment,
  type WebappServices,
} from "./webapp.js";
export { shapeSyncEntry, spawnShapeSync, type ShapeSyncProcess } from "./shape-sync.js";
