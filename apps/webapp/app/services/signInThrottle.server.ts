/**
 * Sign-in throttling: a Redis sliding window (a sorted set of attempt times, Redis's own clock) per
 * account and per client address. An attempt is reserved in both windows atomically before the
 * password is checked, so N parallel guesses cannot slip past a limit of N; a successful sign-in takes
 * its attempt back, so the windows count failures. The account key is the email's hash whether or not
 * the account exists: an unknown email is throttled exactly like a wrong password.
 * (docs/decisions/080-dashboard-security.md)
 */
import { createHash, randomUUID } from "node:crypto";
import { isIPv6 } from "node:net";
import type { Redis } from "ioredis";
import type { WebappEnv } from "../env.server";

/**
 * KEYS: the windows. ARGV: window (ms), member, then one limit per key.
 * Returns 0 when the attempt was recorded in every window, else the ms until one fits.
 */
const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local limit = tonumber(ARGV[2 + i])
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local oldest = redis.call('ZRANGE', key, count - limit, count - limit, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window)
end
return 0
`;

export type SignInAttempt =
  | { allowed: true /** The sign-in succeeded: the attempt does not count. */; succeeded(): Promise<void> }
  | { allowed: false; retryAfterSeconds: number };

export interface SignInThrottle {
  attempt(email: string, clientAddress: string): Promise<SignInAttempt>;
}

type Env = Pick<
  WebappEnv,
  | "REDIS_KEY_PREFIX"
  | "SIGN_IN_THROTTLE_WINDOW_MS"
  | "SIGN_IN_MAX_FAILURES_PER_ACCOUNT"
  | "SIGN_IN_MAX_FAILURES_PER_ADDRESS"
>;

export function createSignInThrottle(redis: Redis, env: Env): SignInThrottle {
  const prefix = `${env.REDIS_KEY_PREFIX}sign-in:`;
  return {
    async attempt(email, clientAddress) {
      const keys = [`${prefix}account:${sha256(email)}`, `${prefix}address:${addressBucket(clientAddress)}`];
      const member = randomUUID();
      const wait = Number(
        await redis.eval(
          RESERVE,
          keys.length,
          ...keys,
          env.SIGN_IN_THROTTLE_WINDOW_MS,
          member,
          env.SIGN_IN_MAX_FAILURES_PER_ACCOUNT,
          env.SIGN_IN_MAX_FAILURES_PER_ADDRESS,
        ),
      );
      if (wait > 0) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(wait / 1000)) };
      return {
        allowed: true,
        async succeeded() {
          await redis.pipeline(keys.map((key) => ["zrem", key, member])).exec();
        },
      };
    },
  };
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** One window per IPv4 address and per IPv6 /64 (a single host usually holds a whole /64). */
export function addressBucket(address: string): string {
  if (!isIPv6(address)) return address;
  const [head, tail = ""] = address.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = [...headGroups, ...Array(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((group) => Number.parseInt(group, 16).toString(16))
    .join(":")}::/64`;
}
