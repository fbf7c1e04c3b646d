import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { HOUR_MS } from "../runtime/index.js";
import { acceptanceDeadline, isAcceptable } from "./window.js";

const t = (s: string) => Date.parse(s);

describe("acceptance window", () => {
  it("24 hours: 23:59:59 old is accepted, exactly 24 h is not", () => {
    const now = t("2026-07-15T10:30:00Z");
    expect(isAcceptable(t("2026-07-14T10:30:01Z"), now)).toBe(true);
    expect(isAcceptable(t("2026-07-14T10:30:00Z"), now)).toBe(false);
    expect(isAcceptable(t("2026-07-15T04:29:59Z"), now)).toBe(true);
  });

  it("month-end cut-off at 06:00 UTC on the 1st", () => {
    expect(isAcceptable(t("2026-07-31T23:00:00Z"), t("2026-08-01T05:59:59Z"))).toBe(true);
    expect(isAcceptable(t("2026-07-31T23:00:00Z"), t("2026-08-01T06:00:00Z"))).toBe(false);
    expect(isAcceptable(t("2026-07-31T07:00:00Z"), t("2026-08-01T05:00:00Z"))).toBe(true);
    expect(isAcceptable(t("2026-08-01T00:00:00Z"), t("2026-08-01T06:00:00Z"))).toBe(true);
    expect(acceptanceDeadline(t("2026-12-31T20:00:00Z"))).toBe(t("2027-01-01T06:00:00Z"));
  });

  it("property: matches the documented predicate", () => {
    const monthIndex = (ms: number) => new Date(ms).getUTCFullYear() * 12 + new Date(ms).getUTCMonth();
    fc.assert(
      fc.property(
        fc.integer({ min: t("2026-01-01T00:00:00Z"), max: t("2028-01-01T00:00:00Z") }),
        fc.integer({ min: 0, max: 30 * HOUR_MS }),
        (ts, age) => {
          const now = ts + age;
          const d = new Date(now);
          const cutoff = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1, 6);
          const spec = now - ts < 24 * HOUR_MS && !(monthIndex(ts) < monthIndex(now) && now >= cutoff);
          expect(isAcceptable(ts, now)).toBe(spec);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
