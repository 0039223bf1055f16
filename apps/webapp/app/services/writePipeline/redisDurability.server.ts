/**
 * The durability promise of the write pipeline rests on Redis's append-only file
 * (docs/decisions/092-write-pipeline.md, "Durability promise"). `pnpm start` and the tests run
 * redis-server with it; an external Redis (REDIS_URL) is checked once at start-up: without
 * `appendonly yes` every instance logs an error (acknowledged writes would not survive a Redis
 * restart), with an fsync policy other than `always` a warning naming what a crash can lose. The
 * webapp still starts: the choice belongs to whoever runs that Redis, and refusing would take the
 * critical (direct) writes down with the buffered ones. A Redis that does not allow CONFIG (some
 * managed services) is reported as unchecked.
 */
import type { Redis } from "ioredis";
import type { Logger } from "../logger.server";

export type RedisDurability =
  | { kind: "checked"; appendonly: string; appendfsync: string }
  | { kind: "unchecked"; reason: string };

export async function checkRedisDurability(redis: Redis, logger: Logger): Promise<RedisDurability> {
  let result: RedisDurability;
  try {
    const [, appendonly = ""] = (await redis.config("GET", "appendonly")) as string[];
    const [, appendfsync = ""] = (await redis.config("GET", "appendfsync")) as string[];
    result = { kind: "checked", appendonly, appendfsync };
  } catch (error) {
    result = { kind: "unchecked", reason: (error as Error).message };
  }
  if (result.kind === "unchecked") {
    logger.warn(
      { reason: result.reason },
      "write pipeline: could not read Redis's append-only settings; buffered writes are only as durable as that Redis is configured (appendonly yes, appendfsync always)",
    );
  } else if (result.appendonly !== "yes") {
    logger.error(
      { appendonly: result.appendonly },
      "write pipeline: Redis runs without its append-only file; buffered writes answered 202 are lost if Redis restarts. Set appendonly yes (and appendfsync always)",
    );
  } else if (result.appendfsync !== "always") {
    logger.warn(
      { appendfsync: result.appendfsync },
      `write pipeline: Redis fsyncs its append-only file "${result.appendfsync}", not "always"; a machine crash can lose buffered writes answered 202 in the last second (everysec) or more (no)`,
    );
  }
  return result;
}
