import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOUR_MS } from "../runtime/index.js";
import { MAX_QUANTITY, applyAdd, grainKey, parseGrainKey, splitDelta } from "./grain.js";
import type { StoredGrain } from "./types.js";

const H = Date.UTC(2026, 6, 15, 10);

describe("grain rules", () => {
  it("property: applyAdd conserves quantity, never passes int32, never touches non-pending grains", () => {
    const op = fc.record({
      id: fc.constantFrom("C|p|a", "C|p|b"),
      hourOffset: fc.integer({ min: -3, max: 1 }),
      q: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: MAX_QUANTITY })),
      close: fc.boolean(),
      tagged: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const rows = new Map<string, StoredGrain>();
        const access = { get: (k: string) => rows.get(k), put: (g: StoredGrain) => void rows.set(g.key, g) };
        let added = 0;
        const ctx = { now: H + 30 * 60_000, openFrom: H - HOUR_MS, carryTo: H };
        for (const o of ops) {
          const frozen = new Map(
            [...rows].filter(([, g]) => g.state !== "pending").map(([k, g]) => [k, g.quantity]),
          );
          const delta = {
            identityKey: o.id,
            dimension: "d",
            hour: H + o.hourOffset * HOUR_MS,
            quantity: o.q,
            ...(o.tagged ? { allocations: { x: Math.floor(o.q / 2), "": o.q - Math.floor(o.q / 2) } } : {}),
          };
          applyAdd(access, [delta], ctx);
          added += o.q;
          for (const [k, q] of frozen) expect(rows.get(k)?.quantity).toBe(q);
          if (o.close)
            for (const g of rows.values()) if (g.hour < H) rows.set(g.key, { ...g, state: "closed" });
        }
        let total = 0;
        for (const g of rows.values()) {
          expect(g.quantity).toBeLessThanOrEqual(MAX_QUANTITY);
          if (g.allocations) expect(Object.values(g.allocations).reduce((a, b) => a + b, 0)).toBe(g.quantity);
          total += g.quantity;
        }
        expect(total).toBe(added);
      }),
      { numRuns: 300 },
    );
  });

  it("splitDelta keeps both parts consistent", () => {
    const [a, b] = splitDelta(
      { identityKey: "x", dimension: "d", hour: H, quantity: 10, allocations: { a: 3, b: 7 } },
      5,
    );
    expect(a).toMatchObject({ quantity: 5, allocations: { a: 3, b: 2 } });
    expect(b).toMatchObject({ quantity: 5, allocations: { b: 5 } });
  });

  it("grain keys round-trip", () => {
    const k = grainKey("L|p|123456789012|arn:aws:x:y:z:w", "api calls|x", H);
    expect(parseGrainKey(k)).toEqual({
      identityKey: "L|p|123456789012|arn:aws:x:y:z:w",
      dimension: "api calls|x",
      hour: H,
    });
  });
});
