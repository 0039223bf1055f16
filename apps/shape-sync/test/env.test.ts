/** The shape server's env: booleans read like the webapp's (one helper in @runfeed/core). */
import { describe, expect, it } from "vitest";
import { configFromEnv } from "../src/env.js";

const base = { DATABASE_URL: "postgres://localhost/x" };

describe("configFromEnv", () => {
  it("reads yes/no/on/off booleans as the webapp does", () => {
    expect(configFromEnv({ ...base, ELECTRIC_ENABLE_INTEGRATION_TESTING: "yes" }).enableIntegrationTesting).toBe(true);
    expect(configFromEnv({ ...base, ELECTRIC_ENABLE_INTEGRATION_TESTING: "Off" }).enableIntegrationTesting).toBe(false);
    expect(configFromEnv({ ...base, ELECTRIC_SECRET: "s", ELECTRIC_INSECURE: "ON" }).secret).toBeUndefined();
    expect(configFromEnv({ ...base, ELECTRIC_SECRET: "s", ELECTRIC_INSECURE: "0" }).secret).toBe("s");
    expect(configFromEnv(base).enableIntegrationTesting).toBe(false);
  });

  it("refuses any other value with a message naming the variable", () => {
    expect(() => configFromEnv({ ...base, ELECTRIC_INSECURE: "maybe" })).toThrow(/ELECTRIC_INSECURE/);
    expect(() => configFromEnv({ ...base, ELECTRIC_INSECURE: "maybe" })).toThrow(/got "maybe"/);
  });
});
