import { describe, expect, it } from "vitest";
import { createMarketplace, memoryStore } from "../src/index.js";
import type { UsageStore } from "../src/store.js";
import { CA1, DEMO } from "./helpers.js";

// A clock built on performance.now() or a test's arithmetic returns fractions of a millisecond. Stores keep
// times as integers (PostgreSQL bigint, SQLite INTEGER), so the core hands them whole milliseconds only.
describe("a clock that returns fractional milliseconds", () => {
  it("reaches the store and the events as whole milliseconds", async () => {
    const seen: number[] = [];
    const inner = memoryStore();
    const store: UsageStore = Object.assign(Object.create(inner) as UsageStore, {
      add: (d: Parameters<UsageStore["add"]>[0], ctx: Parameters<UsageStore["add"]>[1]) => {
        seen.push(ctx.now, ctx.openFrom, ctx.carryTo, ...d.map((x) => x.hour));
        return inner.add(d, ctx);
      },
      closeGrains: (f: Parameters<UsageStore["closeGrains"]>[0]) => {
        seen.push(f.now, f.hourBefore);
        return inner.closeGrains(f);
      },
      claim: (o: Parameters<UsageStore["claim"]>[0]) => {
        seen.push(o.now);
        return inner.claim(o);
      },
      settle: (o: Parameters<UsageStore["settle"]>[0], ctx: Parameters<UsageStore["settle"]>[1]) => {
        seen.push(ctx.now, ...o.flatMap((x) => (x.state === "retrying" ? [x.nextAttemptAt] : [])));
        return inner.settle(o, ctx);
      },
    });
    let now = Date.parse("2026-07-15T10:20:00Z") + 0.586;
    const m = createMarketplace({
      products: [{ productCode: DEMO.P_CA }],
      dimensions: ["api_calls"],
      dryRun: true,
      autoStart: false,
      clock: () => now,
      store,
    });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 3, timestamp: now });
    await m.checkpoint();
    now += 3_600_000 + 0.25;
    await m.flush();
    await m.close();
    expect(seen.length).toBeGreaterThan(4);
    expect(seen.filter((t) => !Number.isInteger(t))).toEqual([]);
  });
});
