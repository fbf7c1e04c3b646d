import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { defined } from "../../test/defined.js";
import { isMarketplaceError } from "../errors/index.js";
import { parseAllocations, tagSetKey, tagsFromKey } from "./tags.js";

const CHARS = "abcXYZ019+ -=._:/@".split("");
const goodString = (max: number) =>
  fc.array(fc.constantFrom(...CHARS), { minLength: 1, maxLength: max }).map((a) => a.join(""));
const goodTags = fc.dictionary(goodString(20), goodString(30), { minKeys: 1, maxKeys: 5 });

describe("tags", () => {
  it("property: valid tag sets get a canonical key independent of order, and round-trip", () => {
    fc.assert(
      fc.property(goodTags, (tags) => {
        const key = tagSetKey(tags);
        const reversed = Object.fromEntries(Object.entries(tags).reverse());
        expect(tagSetKey(reversed)).toBe(key);
        const back = Object.fromEntries(defined(tagsFromKey(key)).map((t) => [t.Key, t.Value]));
        expect(back).toEqual(tags);
      }),
    );
  });

  it("property: a character outside the documented set is refused", () => {
    const bad = fc.constantFrom("[", "]", "é", "#", "!", "\n", "*", "{", "😀");
    fc.assert(
      fc.property(goodString(10), bad, fc.boolean(), (s, c, inKey) => {
        const tags = inKey ? { [s + c]: "v" } : { k: s + c };
        let err: unknown;
        try {
          tagSetKey(tags);
        } catch (e) {
          err = e;
        }
        expect(isMarketplaceError(err, "INVALID_ALLOCATIONS")).toBe(true);
      }),
    );
  });

  it("limits: 5 tags, lengths 100/256, no empty sets or values", () => {
    expect(tagSetKey(undefined)).toBe("");
    expect(() => tagSetKey({})).toThrow(/empty/);
    expect(() => tagSetKey({ a: "1", b: "1", c: "1", d: "1", e: "1", f: "1" })).toThrow(/at most 5/);
    expect(() => tagSetKey({ ["k".repeat(101)]: "v" })).toThrow(/1-100/);
    expect(() => tagSetKey({ k: "v".repeat(257) })).toThrow(/1-256/);
    expect(() => tagSetKey({ k: "" })).toThrow();
    expect(() => tagSetKey({ k: 5 as never })).toThrow();
    expect(() => tagSetKey(["a"])).toThrow();
    expect(tagSetKey({ ["k".repeat(100)]: "v".repeat(256) })).toContain("k".repeat(100));
  });

  it("property: allocations must sum to the quantity and merge equal tag sets", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ q: fc.nat(1000), t: fc.option(goodTags, { nil: undefined }) }), {
          minLength: 1,
          maxLength: 20,
        }),
        (list) => {
          const allocations = list.map((a) => (a.t ? { quantity: a.q, tags: a.t } : { quantity: a.q }));
          const total = list.reduce((n, a) => n + a.q, 0);
          const parsed = parseAllocations(allocations, total);
          expect(Object.values(parsed).reduce((a, b) => a + b, 0)).toBe(total);
          expect(() => parseAllocations(allocations, total + 1)).toThrow(/sum to/);
        },
      ),
    );
    expect(() => parseAllocations([], 0)).toThrow(/1-2500/);
    expect(() => parseAllocations(Array(2501).fill({ quantity: 0 }), 0)).toThrow(/1-2500/);
    expect(() => parseAllocations([{ quantity: -1 }], -1)).toThrow(/non-negative/);
  });
});
