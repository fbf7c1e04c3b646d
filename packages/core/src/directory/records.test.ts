import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sampleCustomer } from "./conformance.js";
import { parseCustomerRecord, rebaseCustomer } from "./records.js";
import { CUSTOMER_STATUSES, type CustomerRecord } from "./types.js";

const T0 = Date.UTC(2026, 6, 15, 10, 30);
const state = fc.record({
  status: fc.constantFrom(...CUSTOMER_STATUSES),
  statusAt: fc.integer({ min: T0, max: T0 + 10_000 }),
  finalMeteringAt: fc.option(fc.integer({ min: T0, max: T0 + 10_000 }), { nil: undefined }),
  notSubscribedAt: fc.option(fc.integer({ min: T0, max: T0 + 10_000 }), { nil: undefined }),
});
const other = fc.record({
  tenantId: fc.option(fc.constantFrom("t1", "t2", "t3"), { nil: undefined }),
  offerId: fc.option(fc.constantFrom("o1", "o2"), { nil: undefined }),
  agreementId: fc.option(fc.constantFrom("a1", "a2"), { nil: undefined }),
});
const record = fc.tuple(state, other).map(([s, o]) => sampleCustomer({ ...s, ...o }) as CustomerRecord);
// Their record: another instance's write, often on the same lifecycle state as the base.
const theirsOf = (base: CustomerRecord) =>
  fc.oneof(
    record,
    fc.tuple(other, state).map(([o, s]) => ({ ...base, ...o, finalMeteringAt: s.finalMeteringAt })),
  );
const plain = (r: CustomerRecord) => JSON.parse(JSON.stringify({ ...r, version: undefined }));

describe("rebaseCustomer (fast-check)", () => {
  it("with nobody else writing, the result is exactly the new record", () => {
    fc.assert(
      fc.property(record, record, (base, mine) => {
        expect(plain(rebaseCustomer(base, mine, base))).toEqual(plain(mine));
      }),
    );
  });

  it("keeps every non-lifecycle field the stale writer changed, and theirs otherwise", () => {
    fc.assert(
      fc.property(
        record.chain((base) => fc.tuple(fc.constant(base), record, theirsOf(base))),
        ([base, mine, theirs]) => {
          const out = rebaseCustomer(base, mine, theirs);
          for (const k of ["tenantId", "offerId", "agreementId"] as const)
            expect(out[k]).toBe(base[k] !== mine[k] ? mine[k] : theirs[k]);
        },
      ),
    );
  });

  it("a stale writer never moves the lifecycle state back to an older event", () => {
    fc.assert(
      fc.property(
        record.chain((base) => fc.tuple(fc.constant(base), record, theirsOf(base))),
        ([base, mine, theirs]) => {
          // Identical to the base means nobody else wrote: the first property covers that.
          fc.pre(JSON.stringify(plain(base)) !== JSON.stringify(plain(theirs)));
          const out = rebaseCustomer(base, mine, theirs);
          expect(out.statusAt).toBeGreaterThanOrEqual(theirs.statusAt);
          const moved = theirs.statusAt !== base.statusAt || theirs.status !== base.status;
          // Another instance moved the state: the stale copy's transition wins only with a newer event.
          if (moved && mine.statusAt <= theirs.statusAt)
            expect([out.status, out.statusAt]).toEqual([theirs.status, theirs.statusAt]);
        },
      ),
    );
  });
});

describe("parseCustomerRecord", () => {
  it("accepts a version and refuses a bad one", () => {
    expect(parseCustomerRecord({ ...sampleCustomer(), version: 3 }).version).toBe(3);
    for (const bad of [-1, 1.5, "2"])
      expect(() => parseCustomerRecord({ ...sampleCustomer(), version: bad })).toThrow(/version/);
  });
});
