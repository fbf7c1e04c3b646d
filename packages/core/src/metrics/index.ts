// Front door of the metrics concern: OpenTelemetry instruments and the store-reachability alert.

export type { CallOutcome, InstrumentKind, InstrumentSpec } from "./instruments.js";
export { INSTRUMENTS } from "./instruments.js";
export type { MetricsOptions, ResolvedMetricsOptions } from "./options.js";
export { DEFAULT_REFRESH_INTERVAL_MS, parseMetricsOptions } from "./options.js";
export type { TelemetryOptions } from "./telemetry.js";
export { Telemetry } from "./telemetry.js";
