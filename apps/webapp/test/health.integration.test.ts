import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestWebapp, type TestWebapp } from "./support/webapp.js";

describe("health and metrics", () => {
  let app: TestWebapp;
  beforeAll(async () => {
    app = await startTestWebapp();
  });
  afterAll(() => app.close());

  it("/healthz reports Postgres and Redis", async () => {
    const response = await fetch(`${app.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok", database: "ok", redis: "ok" });
  });

  it("/metrics exposes Prometheus text", async () => {
    const response = await fetch(`${app.url}/metrics`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("runfeed_webapp_process_cpu_seconds_total");
  });
});
