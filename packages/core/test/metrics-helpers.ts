// An in-memory OpenTelemetry reader: metrics are collected on demand and read back by instrument name.
import { type DataPoint, MeterProvider, MetricReader } from "@opentelemetry/sdk-metrics";

class CollectingReader extends MetricReader {
  protected async onForceFlush(): Promise<void> {}
  protected async onShutdown(): Promise<void> {}
}

export interface Points {
  /** Value of the point whose attributes match `attrs` (undefined when there is none). */
  value(name: string, attrs?: Record<string, string>): number | undefined;
  /** Count of a histogram's recorded values for `attrs`. */
  count(name: string, attrs?: Record<string, string>): number | undefined;
  names(): string[];
}

export function otel() {
  const reader = new CollectingReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  return {
    meterProvider,
    async collect(): Promise<Points> {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw errors[0];
      const byName = new Map<string, DataPoint<unknown>[]>();
      for (const sm of resourceMetrics.scopeMetrics)
        for (const m of sm.metrics) byName.set(m.descriptor.name, m.dataPoints as DataPoint<unknown>[]);
      const find = (name: string, attrs: Record<string, string> = {}) =>
        byName
          .get(name)
          ?.find(
            (p) =>
              Object.keys(p.attributes).length === Object.keys(attrs).length &&
              Object.entries(attrs).every(([k, v]) => p.attributes[k] === v),
          );
      return {
        value: (name, attrs) => find(name, attrs)?.value as number | undefined,
        count: (name, attrs) => (find(name, attrs)?.value as { count: number } | undefined)?.count,
        names: () => [...byName.keys()],
      };
    },
    shutdown: () => meterProvider.shutdown(),
  };
}

/** The names a Prometheus scrape shows for an instrument (dots become underscores, counters end `_total`). */
export function prometheusNames(spec: { name: string; kind: string }): string[] {
  const base = spec.name.replace(/\./g, "_");
  if (spec.kind === "counter") return [`${base}_total`];
  if (spec.kind === "histogram") return [`${base}_bucket`, `${base}_sum`, `${base}_count`];
  return [base];
}
