import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { defined } from "../../test/defined.js";
import { identityKey } from "../identity/index.js";
import { HOUR_MS, systemClock } from "../runtime/index.js";
import { Accumulator } from "./accumulator.js";

const NOW = Date.UTC(2026, 6, 15, 10, 30);
const IDS = [
  {
    customerAWSAccountId: "123456789012",
    licenseArn: "arn:aws:license-manager::294406891311:license:l-01",
    productCode: "pca",
  },
  { customerIdentifier: "cust-1", productCode: "pleg" },
  { customerAWSAccountId: "210987654321", productCode: "pleg" },
];
const TAGS: Array<Record<string, string> | undefined> = [undefined, { team: "a" }, { env: "p", team: "b" }];

function make(clock = () => NOW) {
  return new Accumulator({
    dimensions: ["d1", "d2"],
    productCodes: ["pca", "pleg"],
    clock,
    maxFutureMs: 60_000,
  });
}

const eventArb = fc.record({
  who: fc.integer({ min: 0, max: 2 }),
  fresh: fc.boolean(),
  dim: fc.constantFrom("d1", "d2"),
  q: fc.integer({ min: 0, max: 1_000_000 }),
  hoursAgo: fc.integer({ min: 0, max: 5 }),
  tag: fc.integer({ min: 0, max: 2 }),
});

describe("Accumulator", () => {
  it("property: drained deltas hold exactly the recorded sums per grain, allocations summing to the quantity", () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 200 }), fc.integer({ min: 0, max: 200 }), (events, cut) => {
        const acc = make();
        const expected = new Map<string, number>();
        const expectedTags = new Map<string, number>();
        const deltas = [];
        events.forEach((e, i) => {
          if (i === cut) deltas.push(...acc.drain());
          const identity = e.fresh ? { ...defined(IDS[e.who]) } : defined(IDS[e.who]);
          const tags = TAGS[e.tag];
          acc.record({
            identity,
            dimension: e.dim,
            quantity: e.q,
            timestamp: NOW - e.hoursAgo * HOUR_MS,
            ...(tags ? { tags } : {}),
          });
          const hour = Math.floor((NOW - e.hoursAgo * HOUR_MS) / HOUR_MS) * HOUR_MS;
          const k = `${identityKey(IDS[e.who] as never)}|${e.dim}|${hour}`;
          expected.set(k, (expected.get(k) ?? 0) + e.q);
          const tk = `${k}|${tags ? JSON.stringify(Object.entries(tags).sort()) : ""}`;
          expectedTags.set(tk, (expectedTags.get(tk) ?? 0) + e.q);
        });
        deltas.push(...acc.drain());
        expect(acc.size).toBe(0);
        const got = new Map<string, number>();
        const gotTags = new Map<string, number>();
        for (const d of deltas) {
          const k = `${d.identityKey}|${d.dimension}|${d.hour}`;
          got.set(k, (got.get(k) ?? 0) + d.quantity);
          expect(d.hour % HOUR_MS).toBe(0);
          if (d.allocations) expect(Object.values(d.allocations).reduce((a, b) => a + b, 0)).toBe(d.quantity);
          for (const [tk, q] of Object.entries(d.allocations ?? { "": d.quantity }))
            gotTags.set(`${k}|${tk}`, (gotTags.get(`${k}|${tk}`) ?? 0) + q);
        }
        expect(got).toEqual(expected);
        for (const [k, q] of gotTags) if (q === 0) gotTags.delete(k);
        for (const [k, q] of expectedTags) if (q === 0) expectedTags.delete(k);
        expect(gotTags).toEqual(expectedTags);
        expect(acc.records).toBe(events.length);
      }),
      { numRuns: 200 },
    );
  });

  it("bounded: past cellLimit usage for a new grain is refused and counted, once reported per episode", () => {
    const acc = make();
    const reports: number[] = [];
    acc.cellLimit = 2;
    acc.onOverflow = (n) => reports.push(n);
    const id0 = defined(IDS[0]);
    const id1 = defined(IDS[1]);
    acc.record({ identity: id0, dimension: "d1", quantity: 1 });
    acc.record({ identity: id0, dimension: "d2", quantity: 1 });
    acc.record({ identity: id1, dimension: "d1", quantity: 5 });
    acc.record({ identity: id1, dimension: "d2", quantity: 6 });
    acc.record({ identity: id0, dimension: "d1", quantity: 2, tags: TAGS[1] as never });
    acc.record({ identity: id0, dimension: "d2", quantity: 3 });
    expect(reports).toEqual([2]);
    expect([acc.overflowRecords, acc.overflowQuantity, acc.records]).toEqual([2, 11, 4]);
    expect(acc.drain().map((d) => d.quantity)).toEqual([3, 4]);
    acc.endOverflow();
    acc.record({ identity: id1, dimension: "d1", quantity: 5 });
    expect(acc.size).toBe(1);
    acc.record({ identity: id1, dimension: "d2", quantity: 1 });
    acc.record({ identity: id0, dimension: "d1", quantity: 1 });
    expect(reports).toEqual([2, 2]);
  });

  it("rejects bad input with coded errors and counts nothing", () => {
    const acc = make();
    const tries: Array<[unknown, string]> = [
      [null, "INVALID_ARGUMENT"],
      [{ identity: IDS[0], dimension: "nope", quantity: 1 }, "INVALID_DIMENSION"],
      [{ identity: IDS[0], dimension: "d1", quantity: Number.NaN }, "INVALID_QUANTITY"],
      [{ identity: IDS[0], dimension: "d1", quantity: 1, timestamp: "yesterday" }, "INVALID_TIMESTAMP"],
      [{ identity: IDS[0], dimension: "d1", quantity: 1, timestamp: NOW + 120_000 }, "INVALID_TIMESTAMP"],
      [{ identity: { customerIdentifier: "x" }, dimension: "d1", quantity: 1 }, "INVALID_IDENTITY"],
      [
        { identity: { customerIdentifier: "x", productCode: "other" }, dimension: "d1", quantity: 1 },
        "UNKNOWN_PRODUCT",
      ],
      [
        { identity: IDS[0], dimension: "d1", quantity: 1, tags: { a: "1" }, allocations: [] },
        "INVALID_ARGUMENT",
      ],
    ];
    for (const [u, code] of tries)
      expect(() => acc.record(u as never)).toThrow(expect.objectContaining({ code }));
    expect(acc.size).toBe(0);
    expect(acc.records).toBe(0);
  });

  it("the identity cache never lets an invalid identity through", () => {
    const acc = make();
    acc.record({ identity: { customerIdentifier: "c", productCode: "pleg" }, dimension: "d1", quantity: 1 });
    acc.record({ identity: { customerIdentifier: "c", productCode: "pleg" }, dimension: "d1", quantity: 1 });
    expect(() =>
      acc.record({
        identity: { customerIdentifier: "c", productCode: "pleg", customerAWSAccountId: "123456789012" },
        dimension: "d1",
        quantity: 1,
      }),
    ).toThrow(expect.objectContaining({ code: "INVALID_IDENTITY" }));
    expect(() =>
      acc.record({
        identity: { customerIdentifier: "c", productCode: "pleg", licenseArn: 5 } as never,
        dimension: "d1",
        quantity: 1,
      }),
    ).toThrow(expect.objectContaining({ code: "INVALID_IDENTITY" }));
    expect(acc.drain()).toEqual([
      { identityKey: "C|pleg|c", dimension: "d1", hour: Date.UTC(2026, 6, 15, 10), quantity: 2 },
    ]);
  });

  it("a single product is the default for identities without productCode", () => {
    const acc = new Accumulator({
      dimensions: ["d"],
      productCodes: ["pca"],
      clock: () => NOW,
      maxFutureMs: 0,
    });
    acc.record({ identity: { customerIdentifier: "c" }, dimension: "d", quantity: 2 });
    expect(acc.drain()[0]?.identityKey).toBe("C|pca|c");
  });
});

describe("the fast path and the cached hour", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const sys = () =>
    new Accumulator({
      dimensions: ["d1", "d2"],
      productCodes: ["pca", "pleg"],
      clock: systemClock,
      maxFutureMs: 0,
    });
  const id = { customerIdentifier: "c", productCode: "pleg" };
  const hourOf = (h: number) => Date.UTC(2026, 6, 15, h);

  it("property: with the system clock (the fast path), drained deltas hold exactly the recorded sums", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            eventArb.map((e) => ({ kind: "record" as const, ...e })),
            fc.constant({ kind: "drain" as const }),
            fc.constant({ kind: "tick" as const }),
            fc.integer({ min: 1, max: 2 * HOUR_MS }).map((ms) => ({ kind: "advance" as const, ms })),
          ),
          { maxLength: 150 },
        ),
        (steps) => {
          vi.useFakeTimers();
          vi.setSystemTime(hourOf(10) + 1000);
          const acc = sys();
          const expected = new Map<string, number>();
          const got = new Map<string, number>();
          const take = () => {
            for (const d of acc.drain()) {
              const k = `${d.identityKey}|${d.dimension}|${d.hour}`;
              got.set(k, (got.get(k) ?? 0) + d.quantity);
            }
          };
          let records = 0;
          for (const st of steps) {
            if (st.kind === "drain") take();
            else if (st.kind === "tick") acc.tick();
            else if (st.kind === "advance") vi.advanceTimersByTime(st.ms);
            else {
              const identity = st.fresh ? { ...defined(IDS[st.who]) } : defined(IDS[st.who]);
              acc.record({ identity, dimension: st.dim, quantity: st.q });
              records++;
              const hour = Date.now() - (Date.now() % HOUR_MS);
              const k = `${identityKey(IDS[st.who] as never)}|${st.dim}|${hour}`;
              expected.set(k, (expected.get(k) ?? 0) + st.q);
            }
          }
          take();
          acc.dispose();
          vi.useRealTimers();
          expect(got).toEqual(expected);
          expect(acc.records).toBe(records);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a drained cell is never added to again, whichever path the next record takes", () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const acc = sys();
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    acc.record({ identity: id, dimension: "d1", quantity: 2 }); // fast path
    const first = acc.drain();
    acc.record({ identity: id, dimension: "d1", quantity: 4 });
    acc.record({ identity: id, dimension: "d1", quantity: 8 }); // fast path on the new cell
    expect(first).toEqual([{ identityKey: "C|pleg|c", dimension: "d1", hour: hourOf(10), quantity: 3 }]);
    expect(acc.drain()).toEqual([
      { identityKey: "C|pleg|c", dimension: "d1", hour: hourOf(10), quantity: 12 },
    ]);
    acc.dispose();
  });

  it("switching dimensions, tags and explicit timestamps keep every sum exact", () => {
    vi.useFakeTimers();
    vi.setSystemTime(NOW);
    const acc = sys();
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    acc.record({ identity: id, dimension: "d2", quantity: 10 });
    acc.record({ identity: id, dimension: "d1", quantity: 100 });
    acc.record({ identity: id, dimension: "d1", quantity: 1000, tags: { team: "a" } });
    acc.record({ identity: id, dimension: "d1", quantity: 10000 });
    acc.record({ identity: id, dimension: "d1", quantity: 5, timestamp: NOW - HOUR_MS });
    const out = acc.drain();
    const d1 = out.find((d) => d.dimension === "d1" && d.hour === hourOf(10));
    expect(d1?.quantity).toBe(11101);
    expect(d1?.allocations).toEqual({ "": 10101, [JSON.stringify([["team", "a"]])]: 1000 });
    expect(out.find((d) => d.dimension === "d2")?.quantity).toBe(10);
    expect(out.find((d) => d.hour === hourOf(9))?.quantity).toBe(5);
    acc.dispose();
  });

  it("with the system clock, usage moves to the next hour when the hour ends", () => {
    vi.useFakeTimers();
    vi.setSystemTime(hourOf(10) + HOUR_MS - 500);
    const acc = sys();
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    vi.advanceTimersByTime(500); // the hour's end: the cached hour expires
    acc.record({ identity: id, dimension: "d1", quantity: 5 });
    const out = acc.drain();
    expect(out.map((d) => [d.hour, d.quantity])).toEqual([
      [hourOf(10), 2],
      [hourOf(11), 5],
    ]);
    acc.dispose();
  });

  it("with the system clock, tick() notices a jump of the wall clock", () => {
    vi.useFakeTimers();
    vi.setSystemTime(hourOf(10) + 1000);
    const acc = sys();
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    vi.setSystemTime(hourOf(13) + 1000); // the wall clock jumps; no timer fires
    acc.tick();
    acc.record({ identity: id, dimension: "d1", quantity: 2 });
    expect(acc.drain().map((d) => [d.hour, d.quantity])).toEqual([
      [hourOf(10), 1],
      [hourOf(13), 2],
    ]);
    acc.dispose();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("an injected clock is read on every record (no caching, no timers)", () => {
    let now = hourOf(10) + HOUR_MS - 1;
    const acc = make(() => now);
    acc.record({ identity: id, dimension: "d1", quantity: 1 });
    now += 1;
    acc.record({ identity: id, dimension: "d1", quantity: 2 });
    expect(acc.drain().map((d) => [d.hour, d.quantity])).toEqual([
      [hourOf(10), 1],
      [hourOf(11), 2],
    ]);
  });
});
