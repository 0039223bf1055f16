/** The realtime page's reading of a shape server's /metrics, against prom-client's own exposition. */
import { Counter, Gauge, Histogram, Registry, Summary } from "prom-client";
import { describe, expect, it } from "vitest";
import { parsePrometheus } from "../../app/services/shapeServerHealth.server.js";

describe("parsePrometheus", () => {
  it("reads counters, gauges, summaries' quantiles and the sums and counts of histograms", async () => {
    const registry = new Registry();
    new Gauge({ name: "shape_sync_shapes", help: "shapes", registers: [registry] }).set(3);
    const requests = new Counter({ name: "requests_total", help: "r", labelNames: ["route"], registers: [registry] });
    requests.inc({ route: 'a"b' }, 2);
    const lag = new Histogram({ name: "lag_seconds", help: "l", buckets: [0.1, 1], registers: [registry] });
    lag.observe(0.5);
    lag.observe(2);
    const size = new Summary({ name: "size_bytes", help: "s", percentiles: [0.5], registers: [registry] });
    size.observe(10);
    const samples = parsePrometheus(await registry.metrics());
    expect(samples).toEqual(
      expect.arrayContaining([
        { name: "shape_sync_shapes", labels: "", value: 3 },
        { name: "requests_total", labels: '{route="a\\"b"}', value: 2 },
        { name: "lag_seconds_sum", labels: "", value: 2.5 },
        { name: "lag_seconds_count", labels: "", value: 2 },
        { name: "size_bytes", labels: '{quantile="0.5"}', value: 10 },
        { name: "size_bytes_count", labels: "", value: 1 },
      ]),
    );
    expect(samples.some((sample) => sample.name.endsWith("_bucket"))).toBe(false);
  });
});
