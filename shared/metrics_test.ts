import assert from "node:assert/strict";
import { MetricsRegistry } from "./metrics.ts";

Deno.test("MetricsRegistry renders counters and histograms in Prometheus text format", () => {
  const registry = new MetricsRegistry();
  const requests = registry.counter("http_requests_total", "Requests");
  requests.inc({ route: "/v1/payments", status: "202" });
  requests.inc({ route: "/v1/payments", status: "202" });
  const latency = registry.histogram("http_duration_seconds", "Latency", [0.1, 1]);
  latency.observe(0.05);
  latency.observe(0.5);
  const text = registry.render();
  assert.match(text, /# TYPE http_requests_total counter/);
  assert.match(text, /http_requests_total\{route="\/v1\/payments",status="202"\} 2/);
  assert.match(text, /http_duration_seconds_bucket\{le="0.1"\} 1/);
  assert.match(text, /http_duration_seconds_bucket\{le="1"\} 2/);
  assert.match(text, /http_duration_seconds_count 2/);
});

Deno.test("MetricsRegistry bounds the number of label sets per metric", () => {
  const counter = new MetricsRegistry().counter("c", "c");
  for (let i = 0; i < 5000; i++) counter.inc({ id: String(i) });
  assert.equal(counter.render().split("\n").length - 2, 1000);
});

Deno.test("MetricsRegistry refuses one name with two types", () => {
  const registry = new MetricsRegistry();
  registry.counter("x", "x");
  assert.throws(() => registry.gauge("x", "x"), TypeError);
});
