/** The webapp's env: booleans read like the shape server's (one helper in @runfeed/core). */
import { describe, expect, it } from "vitest";
import { parseEnv } from "../app/env.server.js";

const base = { DATABASE_URL: "postgres://localhost/x", REDIS_URL: "redis://localhost:6379" };

describe("parseEnv", () => {
  it("reads yes/no/on/off booleans as the shape server does", () => {
    expect(parseEnv({ ...base, WORKER_ENABLED: "no" }).WORKER_ENABLED).toBe(false);
    expect(parseEnv({ ...base, WORKER_ENABLED: "Yes" }).WORKER_ENABLED).toBe(true);
    expect(parseEnv({ ...base, WORKER_ENABLED: "0" }).WORKER_ENABLED).toBe(false);
    expect(parseEnv(base).WORKER_ENABLED).toBe(true);
  });

  it("refuses any other value with a message naming the variable", () => {
    expect(() => parseEnv({ ...base, WORKER_ENABLED: "maybe" })).toThrow(/WORKER_ENABLED/);
  });
});
