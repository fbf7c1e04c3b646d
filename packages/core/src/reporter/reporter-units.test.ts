import {
  InternalServiceErrorException,
  InvalidLicenseException,
  InvalidProductCodeException,
  ThrottlingException,
  TimestampOutOfBoundsException,
} from "@aws-sdk/client-marketplace-metering";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defined } from "../../test/defined.js";
import { HOUR_MS } from "../runtime/index.js";
import { grainKey, newGrain } from "../stores/index.js";
import { backoffDelay } from "./backoff.js";
import { buildBatches, MAX_REQUEST_BYTES, prepareRecord, requestBytes, requestOf } from "./batch.js";
import { classifyError } from "./classify.js";
import { RateLimiter } from "./limiter.js";

const H = Date.UTC(2026, 6, 15, 9);
const meta = { $metadata: {}, message: "m" };
const CA = "L|pca|123456789012|arn:aws:license-manager::294406891311:license:l-01";

describe("RateLimiter", () => {
  it("property: never more than N call starts in any window, in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 40 }),
        async (rate, gaps) => {
          let now = 0;
          const limiter = new RateLimiter({
            callsPerSecond: rate,
            marginMs: 0,
            now: () => now,
            sleep: async (ms) => void (now += ms),
          });
          const starts: number[] = [];
          for (const g of gaps) {
            now += g;
            await limiter.acquire();
            starts.push(now);
          }
          for (let i = rate; i < starts.length; i++)
            expect(defined(starts[i]) - defined(starts[i - rate])).toBeGreaterThanOrEqual(1000);
        },
      ),
    );
  });

  it("pause() holds every call", async () => {
    let now = 0;
    const limiter = new RateLimiter({
      callsPerSecond: 10,
      now: () => now,
      sleep: async (ms) => void (now += ms),
    });
    limiter.pause(1500);
    await limiter.acquire();
    expect(now).toBe(1500);
  });
});

describe("backoff", () => {
  it("property: full jitter within [1, min(max, base*2^n)]", () => {
    fc.assert(
      fc.property(fc.nat(40), fc.double({ min: 0, max: 0.999999, noNaN: true }), (n, r) => {
        const d = backoffDelay(n, { baseDelayMs: 1000, maxDelayMs: 300_000 }, () => r);
        expect(d).toBeGreaterThanOrEqual(1);
        expect(d).toBeLessThanOrEqual(Math.min(300_000, 1000 * 2 ** n));
      }),
    );
  });
});

describe("classifyError", () => {
  it("sorts SDK errors", () => {
    expect(classifyError(new ThrottlingException(meta))).toBe("throttle");
    expect(classifyError(new InternalServiceErrorException(meta))).toBe("transient");
    expect(classifyError(new InvalidLicenseException(meta))).toBe("invalid");
    expect(classifyError(new InvalidProductCodeException(meta))).toBe("product");
    expect(classifyError(new TimestampOutOfBoundsException(meta))).toBe("timestamp");
    expect(classifyError(Object.assign(new Error("x"), { name: "AccessDeniedException" }))).toBe("config");
    expect(classifyError(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))).toBe(
      "transient",
    );
    expect(
      classifyError(Object.assign(new Error("?"), { name: "Unknown", $metadata: { httpStatusCode: 429 } })),
    ).toBe("throttle");
  });
});

function grain(identityKey: string, dim: string, quantity: number, allocations?: Record<string, number>) {
  const g = { ...newGrain(identityKey, dim, H, 0), quantity, state: "closed" as const };
  return allocations ? { ...g, allocations } : g;
}

describe("batches", () => {
  it("property: ≤25 records, one product and mode per call, hour-start timestamps, no ProductCode for CA", () => {
    const ids = [
      CA,
      "L|pother|123456789012|arn:aws:license-manager::294406891311:license:l-02",
      "C|pleg|cust-1",
      "A|pleg|333344445555",
    ];
    fc.assert(
      fc.property(
        fc.array(fc.record({ id: fc.integer({ min: 0, max: 3 }), d: fc.nat(60) }), { maxLength: 150 }),
        (list) => {
          const seen = new Set<string>();
          const grains = list
            .map((x) => grain(defined(ids[x.id]), `d${x.d}`, x.d))
            .filter((g) => {
              if (seen.has(g.key)) return false;
              seen.add(g.key);
              return true;
            });
          const batches = buildBatches(grains.map(prepareRecord));
          expect(batches.reduce((n, b) => n + b.records.length, 0)).toBe(grains.length);
          for (const b of batches) {
            expect(b.records.length).toBeGreaterThan(0);
            expect(b.records.length).toBeLessThanOrEqual(25);
            const input = requestOf(b);
            expect(new Set(b.records.map((r) => r.identity.productCode)).size).toBe(1);
            if (b.mode === "license") expect(input.ProductCode).toBeUndefined();
            else expect(input.ProductCode).toBe(b.productCode);
            for (const r of defined(input.UsageRecords))
              expect((r.Timestamp as Date).getTime() % HOUR_MS).toBe(0);
            expect(requestBytes(b)).toBeLessThan(1_048_576);
          }
        },
      ),
    );
  });

  it("splits by serialized size and folds allocations beyond AWS limits into the untagged share", () => {
    const big: Record<string, number> = {};
    for (let i = 0; i < 3000; i++) big[JSON.stringify([["k", `${"v".repeat(200)}${i}`]])] = 1;
    const records = Array.from({ length: 25 }, (_, i) => prepareRecord(grain(CA, `dim${i}`, 3000, big)));
    for (const r of records) {
      const a = defined(r.record.UsageAllocations);
      expect(a.length).toBeLessThanOrEqual(2500);
      expect(a.reduce((n, x) => n + (x.AllocatedUsageQuantity ?? 0), 0)).toBe(3000);
      expect(r.foldedAllocations).toBeGreaterThan(0);
    }
    const batches = buildBatches(records);
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(requestBytes(b)).toBeLessThan(MAX_REQUEST_BYTES + 100);
    // More than 5 distinct tag keys over the list: the extra ones go untagged.
    const keys: Record<string, number> = {};
    for (let i = 0; i < 7; i++) keys[JSON.stringify([[`key${i}`, "v"]])] = 10 - i;
    const r = prepareRecord(grain(CA, "d", 49, keys));
    const tagKeys = new Set(
      defined(r.record.UsageAllocations).flatMap((a) => (a.Tags ?? []).map((t) => t.Key)),
    );
    expect(tagKeys.size).toBe(5);
    expect(defined(r.record.UsageAllocations).reduce((n, x) => n + (x.AllocatedUsageQuantity ?? 0), 0)).toBe(
      49,
    );
    expect(grainKey(CA, "d", H)).toBe(r.grain.key);
  });
});
