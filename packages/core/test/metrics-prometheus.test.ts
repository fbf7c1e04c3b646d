import { once } from "node:events";
import { createServer } from "node:http";
import { PrometheusExporter } from "@opentelemetry/exporter-prometheus";
import { MeterProvider } from "@opentelemetry/sdk-metrics";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { memoryStore } from "../src/index.js";
import { INSTRUMENTS } from "../src/metrics/index.js";
import { CA1, CA2, HOUR, type TestBed, testBed } from "./helpers.js";
import { prometheusNames } from "./metrics-helpers.js";

let bed: TestBed;
beforeEach(async () => {
  bed = await testBed();
});
afterEach(async () => bed.close());

/** Samples of a Prometheus text exposition: name, labels, value. */
function samples(text: string) {
  const out: Array<{ name: string; labels: Record<string, string>; value: number }> = [];
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || line.startsWith("#")) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1] as string] = l[2] as string;
    out.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return out;
}

describe("OpenTelemetry Prometheus exporter", () => {
  it("a scrape over HTTP shows the store's counts and the billed usage under the documented names", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    try {
      const store = memoryStore();
      const m = bed.make({ store, metrics: { meterProvider } });
      m.record({ identity: CA1, dimension: "api_calls", quantity: 7 });
      m.record({ identity: CA2, dimension: "gb_stored", quantity: 2 });
      bed.advance(HOUR);
      await m.flush();
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      const got = samples(await res.text());
      const ours = got.filter((s) => s.name.startsWith("marketmeter_"));
      const one = (name: string, labels: Record<string, string> = {}) =>
        ours.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

      const counts = await store.counts();
      expect(counts.sent).toBe(2);
      for (const [state, n] of Object.entries(counts))
        expect(one("marketmeter_grains", { state }).map((s) => s.value)).toEqual([n]);
      for (const r of bed.emu.ledger())
        expect(
          one("marketmeter_usage_recorded_total", { dimension: r.dimension }).map((s) => s.value),
        ).toEqual([r.quantity]);
      expect(one("marketmeter_send_calls_total", { outcome: "success" }).map((s) => s.value)).toEqual([
        m.stats().calls,
      ]);
      expect(one("marketmeter_send_duration_count", { outcome: "success" }).map((s) => s.value)).toEqual([
        m.stats().calls,
      ]);
      // The names the dashboard test assumes are the names this exporter really writes.
      const known = new Set(Object.values(INSTRUMENTS).flatMap(prometheusNames));
      expect(ours.filter((s) => !known.has(s.name)).map((s) => s.name)).toEqual([]);
      await m.close();
    } finally {
      server.close();
      await meterProvider.shutdown();
    }
  });
});
