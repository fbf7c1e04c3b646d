/**
 * The OpenTelemetry instruments a marketplace instance publishes: one list, so the README, the Grafana
 * dashboard and the code cannot drift apart. Attributes are low-cardinality (never a customer id).
 */

export type InstrumentKind = "counter" | "histogram" | "gauge";

export interface InstrumentSpec {
  /** OpenTelemetry name; the Prometheus exporter turns dots into underscores (and adds `_total` to counters). */
  name: string;
  kind: InstrumentKind;
  unit: string;
  description: string;
  /** Attribute keys the instrument is split by. */
  attributes: readonly string[];
}

export const INSTRUMENTS = {
  usageRecorded: {
    name: "marketmeter.usage.recorded",
    kind: "counter",
    unit: "{unit}",
    description: "Usage quantity saved to the store, by dimension (added at each checkpoint)",
    attributes: ["dimension"],
  },
  grains: {
    name: "marketmeter.grains",
    kind: "gauge",
    unit: "{grain}",
    description:
      "Grains in the store by state (pending, closed, retrying, sent, rejected, expired, uncertain)",
    attributes: ["state"],
  },
  oldestUnsentAge: {
    name: "marketmeter.grain.oldest_unsent.age",
    kind: "gauge",
    unit: "s",
    description:
      "Age of the oldest grain not yet accepted by AWS (pending, closed or retrying), from its hour start",
    attributes: [],
  },
  oldestUnsentTimeLeft: {
    name: "marketmeter.grain.oldest_unsent.time_left",
    kind: "gauge",
    unit: "s",
    description: "Time left before AWS stops accepting the oldest unsent grain (negative: past its deadline)",
    attributes: [],
  },
  sendDuration: {
    name: "marketmeter.send.duration",
    kind: "histogram",
    unit: "s",
    description: "Duration of BatchMeterUsage calls, by outcome",
    attributes: ["outcome"],
  },
  sendCalls: {
    name: "marketmeter.send.calls",
    kind: "counter",
    unit: "{call}",
    description: "BatchMeterUsage calls by outcome: success, throttled, rejected, retried",
    attributes: ["outcome"],
  },
  checkpointLag: {
    name: "marketmeter.checkpoint.lag",
    kind: "gauge",
    unit: "s",
    description:
      "How long usage has been waiting in memory without a successful checkpoint (0 when none waits)",
    attributes: [],
  },
  storeErrors: {
    name: "marketmeter.store.errors",
    kind: "counter",
    unit: "{error}",
    description: "Failed store operations, by operation",
    attributes: ["operation"],
  },
} as const satisfies Record<string, InstrumentSpec>;

/** Outcome of one BatchMeterUsage call, as the `outcome` attribute says it. */
export type CallOutcome = "success" | "throttled" | "rejected" | "retried";
