/** The `metrics` option of `createMarketplace`, parsed. */
import type { MeterProvider } from "@opentelemetry/api";
import { MarketplaceError } from "../errors/index.js";

/** OpenTelemetry metrics of a marketplace instance. */
export interface MetricsOptions {
  /**
   * Where instruments are created. Without it, the global provider at the time `createMarketplace` runs
   * (a no-op until the app registers one, so register it first).
   * @default metrics.getMeterProvider() of `@opentelemetry/api`
   */
  meterProvider?: MeterProvider;
  /** Set false to create no instrument at all. @default true */
  enabled?: boolean;
  /**
   * Grains by state and the oldest unsent grain come from the store at most this often, however often
   * the metrics are collected.
   * @default 15000
   */
  refreshIntervalMs?: number;
}

export interface ResolvedMetricsOptions {
  meterProvider: MeterProvider | undefined;
  enabled: boolean;
  refreshIntervalMs: number;
}

const KEYS = new Set(["meterProvider", "enabled", "refreshIntervalMs"]);
export const DEFAULT_REFRESH_INTERVAL_MS = 15_000;

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/** Validates the `metrics` option; throws `INVALID_CONFIG` saying what to fix. */
export function parseMetricsOptions(input: unknown): ResolvedMetricsOptions {
  if (input === undefined)
    return { meterProvider: undefined, enabled: true, refreshIntervalMs: DEFAULT_REFRESH_INTERVAL_MS };
  if (typeof input !== "object" || input === null || Array.isArray(input))
    invalid("metrics must be { meterProvider?, enabled?, refreshIntervalMs? }");
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) invalid(`metrics.${k} is not a known option`);
  const p = o.meterProvider;
  if (
    p !== undefined &&
    (typeof p !== "object" || p === null || typeof (p as { getMeter?: unknown }).getMeter !== "function")
  )
    invalid("metrics.meterProvider must be an OpenTelemetry MeterProvider (an object with getMeter())");
  if (o.enabled !== undefined && typeof o.enabled !== "boolean") invalid("metrics.enabled must be a boolean");
  const r = o.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS;
  if (typeof r !== "number" || !Number.isSafeInteger(r) || r < 1000 || r > 3_600_000)
    invalid("metrics.refreshIntervalMs must be an integer from 1000 to 3600000 (ms)");
  return {
    meterProvider: p as MeterProvider | undefined,
    enabled: (o.enabled as boolean | undefined) ?? true,
    refreshIntervalMs: r,
  };
}
