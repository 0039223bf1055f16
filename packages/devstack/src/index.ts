export { startEmbeddedPostgres, type RunningPostgres } from "./postgres.js";
export { startRedisServer, hasRedisServer, waitForPort, RedisNotFoundError, type RunningRedis } from "./redis.js";
