// The seed is what reruns a chaos schedule: CHAOS_SEED is read strictly, and one seed always gives the
// same random sequence.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prng, seedFromEnv } from "../src/harness.js";

describe("CHAOS_SEED", () => {
  it("accepts every integer from 0 to 2^32 - 1 as written", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (n) => {
        expect(seedFromEnv(String(n))).toBe(n);
      }),
    );
  });

  it("refuses anything else with a message naming the variable", () => {
    const bad = fc.oneof(
      fc.string().filter((s) => s !== "" && !/^\d+$/.test(s)),
      fc.constantFrom(" 12", "1e3", "0x10", "+5", "12 "),
      fc.integer({ max: -1 }).map(String),
      fc.double({ noInteger: true, noNaN: true }).map(String),
      fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }).map(String),
    );
    fc.assert(
      fc.property(bad, (s) => {
        expect(() => seedFromEnv(s)).toThrow(/CHAOS_SEED must be an integer/);
      }),
    );
  });

  it("gives a fresh seed when unset", () => {
    expect(Number.isSafeInteger(seedFromEnv(undefined))).toBe(true);
  });

  it("one seed, one sequence of numbers in [0, 1)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), (seed) => {
        const a = prng(seed);
        const b = prng(seed);
        for (let i = 0; i < 20; i++) {
          const x = a();
          expect(x).toBe(b());
          expect(x >= 0 && x < 1).toBe(true);
        }
      }),
    );
  });
});
