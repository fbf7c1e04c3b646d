import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { INSTRUMENTS } from "../src/metrics/index.js";
import { prometheusNames } from "./metrics-helpers.js";

// The checked-in Grafana dashboard must chart metrics that exist, under the names the exporter gives them.
export const DASHBOARD = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "../../../docs/grafana/marketmeter.json",
);

/** Every `expr` of the dashboard's panels. */
export function queries(dashboard: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) for (const x of v) walk(x);
    else if (typeof v === "object" && v !== null)
      for (const [k, x] of Object.entries(v)) {
        if (k === "expr" && typeof x === "string") out.push(x);
        else walk(x);
      }
  };
  walk(dashboard);
  return out;
}

/** Metric names a PromQL expression reads (our namespace only). */
export function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\bmarketmeter_[a-z0-9_]+/g)].map((m) => m[0]);
}

describe("Grafana dashboard", () => {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as {
    title: string;
    uid: string;
    panels: unknown[];
  };

  it("is a dashboard with panels", () => {
    expect(dashboard.title).toMatch(/marketmeter/);
    expect(dashboard.uid).toBe("marketmeter");
    expect(dashboard.panels.length).toBeGreaterThan(0);
  });

  it("every metric it queries is an instrument, and every instrument is charted", () => {
    const known = new Set(Object.values(INSTRUMENTS).flatMap(prometheusNames));
    const used = queries(dashboard).flatMap(metricNames);
    expect(used.length).toBeGreaterThan(0);
    expect(used.filter((n) => !known.has(n))).toEqual([]);
    const charted = Object.values(INSTRUMENTS).filter(
      (s) => !prometheusNames(s).some((n) => used.includes(n)),
    );
    expect(charted.map((s) => s.name)).toEqual([]);
  });

  it("finds metric names in an expression", () => {
    expect(metricNames("sum by (le) (rate(marketmeter_send_duration_bucket[5m])) / marketmeter_x")).toEqual([
      "marketmeter_send_duration_bucket",
      "marketmeter_x",
    ]);
  });
});
