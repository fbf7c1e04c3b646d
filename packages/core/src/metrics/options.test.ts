import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import { DEFAULT_REFRESH_INTERVAL_MS, parseMetricsOptions } from "./options.js";

const provider = { getMeter: () => ({}) };

describe("parseMetricsOptions", () => {
  it("accepts every valid option set, keeping what was given", () => {
    fc.assert(
      fc.property(
        fc.record(
          {
            meterProvider: fc.constant(provider),
            enabled: fc.boolean(),
            refreshIntervalMs: fc.integer({ min: 1000, max: 3_600_000 }),
          },
          { requiredKeys: [] },
        ),
        (input) => {
          const r = parseMetricsOptions(input);
          expect(r.enabled).toBe(input.enabled ?? true);
          expect(r.refreshIntervalMs).toBe(input.refreshIntervalMs ?? DEFAULT_REFRESH_INTERVAL_MS);
          expect(r.meterProvider).toBe(input.meterProvider);
        },
      ),
    );
  });

  it("anything else is refused with INVALID_CONFIG, never another error", () => {
    const bad = fc.oneof(
      fc
        .anything()
        .filter((v) => v !== undefined && (typeof v !== "object" || v === null || Array.isArray(v))),
      fc.record({
        meterProvider: fc
          .anything()
          .filter((v) => typeof (v as { getMeter?: unknown })?.getMeter !== "function" && v !== undefined),
      }),
      fc.record({ enabled: fc.anything().filter((v) => typeof v !== "boolean" && v !== undefined) }),
      fc.record({
        refreshIntervalMs: fc.oneof(
          fc.integer({ max: 999 }),
          fc.integer({ min: 3_600_001 }),
          fc.double().filter((v) => !Number.isInteger(v)),
          fc.string(),
        ),
      }),
      fc.dictionary(
        fc.string().filter((k) => !["meterProvider", "enabled", "refreshIntervalMs"].includes(k)),
        fc.anything(),
        { minKeys: 1 },
      ),
    );
    fc.assert(
      fc.property(bad, (input) => {
        let thrown: unknown;
        try {
          parseMetricsOptions(input);
        } catch (err) {
          thrown = err;
        }
        expect(isMarketplaceError(thrown, "INVALID_CONFIG")).toBe(true);
      }),
    );
  });

  it("no option: enabled with the global provider and the default refresh interval", () => {
    expect(parseMetricsOptions(undefined)).toEqual({
      meterProvider: undefined,
      enabled: true,
      refreshIntervalMs: DEFAULT_REFRESH_INTERVAL_MS,
    });
  });
});
