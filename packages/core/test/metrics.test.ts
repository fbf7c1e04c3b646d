import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type GrainState,
  isMarketplaceError,
  type MarketplaceEvents,
  memoryStore,
  type UsageStore,
} from "../src/index.js";
import { CA1, CA2, HOUR, LEG, type TestBed, testBed } from "./helpers.js";
import { otel } from "./metrics-helpers.js";

let bed: TestBed;
let o: ReturnType<typeof otel>;
beforeEach(async () => {
  bed = await testBed();
  o = otel();
});
afterEach(async () => {
  await o.shutdown();
  await bed.close();
});

const H10 = Date.parse("2026-07-15T10:00:00Z");
const STATES: GrainState[] = ["pending", "closed", "retrying", "sent", "rejected", "expired", "uncertain"];

function collect<E extends keyof MarketplaceEvents>(
  m: { on: (e: E, h: (p: MarketplaceEvents[E]) => void) => () => void },
  e: E,
) {
  const out: MarketplaceEvents[E][] = [];
  m.on(e, (p) => out.push(p));
  return out;
}

/** A store whose operations can be made to fail, and whose counts() calls are counted. */
function flakyStore(inner: UsageStore = memoryStore()) {
  // `writesDown`: a full disk, where reads still answer.
  const state = { down: false, writesDown: false, countsCalls: 0 };
  const fail = () => Promise.reject(new Error("connection refused"));
  const w = () => state.down || state.writesDown;
  const store: UsageStore = {
    kind: inner.kind,
    durable: inner.durable,
    add: (d, c) => (w() ? fail() : inner.add(d, c)),
    closeGrains: (f) => (w() ? fail() : inner.closeGrains(f)),
    claim: (x) => (w() ? fail() : inner.claim(x)),
    settle: (x, c) => (w() ? fail() : inner.settle(x, c)),
    release: (x, l) => (w() ? fail() : inner.release(x, l)),
    get: (k) => (state.down ? fail() : inner.get(k)),
    list: (q) => (state.down ? fail() : inner.list(q)),
    counts: () => {
      state.countsCalls++;
      return state.down ? fail() : inner.counts();
    },
    close: () => inner.close(),
  };
  return { store, state };
}

describe("OpenTelemetry metrics against the emulator", () => {
  it("metric values equal the store's state and the emulator's ledger; a throttled call shows as throttled", async () => {
    const store = memoryStore();
    const m = bed.make({ store, metrics: { meterProvider: o.meterProvider } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 4 });
    m.record({ identity: CA2, dimension: "gb_stored", quantity: 9 });
    m.record({ identity: LEG, dimension: "api_calls", quantity: 3 });
    bed.emu.setFaults({ BatchMeterUsage: { throttle: { next: 1 } } });
    bed.advance(HOUR);
    await m.flush();
    // The current hour: saved, not sent yet.
    m.record({ identity: CA1, dimension: "api_calls", quantity: 5 });
    await m.checkpoint();

    let p = await o.collect();
    expect(p.value("marketmeter.send.calls", { outcome: "throttled" })).toBe(1);
    expect(p.value("marketmeter.send.calls", { outcome: "success" })).toBe(m.stats().calls - 1);
    expect(p.value("marketmeter.usage.recorded", { dimension: "api_calls" })).toBe(12);
    expect(p.value("marketmeter.usage.recorded", { dimension: "gb_stored" })).toBe(9);
    let counts = await store.counts();
    expect(counts.retrying).toBeGreaterThan(0);
    for (const state of STATES) expect(p.value("marketmeter.grains", { state })).toBe(counts[state]);
    // The oldest unsent grain is the throttled 10:00 hour; AWS takes it until 24 h after it began.
    expect(p.value("marketmeter.grain.oldest_unsent.age")).toBe((bed.now() - H10) / 1000);
    expect(p.value("marketmeter.grain.oldest_unsent.time_left")).toBe((H10 + 24 * HOUR - bed.now()) / 1000);
    expect(p.value("marketmeter.checkpoint.lag")).toBe(0);

    bed.emu.setFaults({});
    bed.advance(HOUR);
    await m.flush();
    p = await o.collect();
    counts = await store.counts();
    expect(counts).toMatchObject({ sent: 4, pending: 0, closed: 0, retrying: 0 });
    for (const state of STATES) expect(p.value("marketmeter.grains", { state })).toBe(counts[state]);
    const ledger = bed.emu.ledger();
    const billed = (dimension: string) =>
      ledger.filter((r) => r.dimension === dimension).reduce((s, r) => s + r.quantity, 0);
    expect(p.value("marketmeter.usage.recorded", { dimension: "api_calls" })).toBe(billed("api_calls"));
    expect(p.value("marketmeter.usage.recorded", { dimension: "gb_stored" })).toBe(billed("gb_stored"));
    // Calls by outcome equal the calls the emulator answered.
    const calls = bed.emu.calls().filter((c) => c.operation === "BatchMeterUsage");
    expect(p.value("marketmeter.send.calls", { outcome: "success" })).toBe(
      calls.filter((c) => c.status === 200).length,
    );
    expect(p.value("marketmeter.send.calls", { outcome: "throttled" })).toBe(
      calls.filter((c) => c.errorType === "ThrottlingException").length,
    );
    expect(
      (p.count("marketmeter.send.duration", { outcome: "success" }) ?? 0) +
        (p.count("marketmeter.send.duration", { outcome: "throttled" }) ?? 0),
    ).toBe(m.stats().calls);
    // Nothing unsent, nothing at risk.
    expect(p.value("marketmeter.grain.oldest_unsent.age")).toBe(0);
    expect(p.value("marketmeter.grain.oldest_unsent.time_left")).toBe(24 * 3600);
    await m.close();
  });

  it("reads the store for gauges at most once per refresh interval, however often metrics are collected", async () => {
    const { store, state } = flakyStore();
    const m = bed.make({ store, metrics: { meterProvider: o.meterProvider, refreshIntervalMs: 30_000 } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    await m.checkpoint();
    await Promise.all([o.collect(), o.collect()]);
    await o.collect();
    expect(state.countsCalls).toBe(1);
    bed.advance(29_999);
    expect((await o.collect()).value("marketmeter.grains", { state: "pending" })).toBe(1);
    expect(state.countsCalls).toBe(1);
    bed.advance(1);
    await o.collect();
    expect(state.countsCalls).toBe(2);
    await m.close();
  });

  it("store unreachable for longer than storeUnreachableMs: one event, errors counted, lag grows, then recovery", async () => {
    const { store, state } = flakyStore();
    const m = bed.make({ store, storeUnreachableMs: 60_000, metrics: { meterProvider: o.meterProvider } });
    const down = collect(m, "storeUnreachable");
    const up = collect(m, "storeRecovered");
    expect((await o.collect()).value("marketmeter.checkpoint.lag")).toBe(0);
    state.down = true;
    m.record({ identity: CA1, dimension: "api_calls", quantity: 2 });
    const t0 = bed.now();
    await expect(m.checkpoint()).rejects.toSatisfy((e) => isMarketplaceError(e, "STORE_ERROR"));
    bed.advance(59_999);
    await expect(m.flush()).rejects.toThrow();
    expect(down).toHaveLength(0);
    bed.advance(1);
    await expect(m.flush()).rejects.toThrow();
    await expect(m.flush()).rejects.toThrow();
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ since: new Date(t0), downMs: 60_000 });
    expect(isMarketplaceError(down[0]?.error, "STORE_ERROR")).toBe(true);
    const calls = state.countsCalls;
    const p = await o.collect();
    await o.collect();
    expect(p.value("marketmeter.store.errors", { operation: "add" })).toBe(4);
    expect(p.value("marketmeter.store.errors", { operation: "counts" })).toBe(1);
    expect(p.value("marketmeter.checkpoint.lag")).toBe(60);
    // A failed refresh keeps the last numbers read and is not retried at every scrape.
    expect(state.countsCalls).toBe(calls + 1);
    expect(p.value("marketmeter.grains", { state: "pending" })).toBe(0);

    state.down = false;
    bed.advance(15_000);
    await m.checkpoint();
    expect(up).toEqual([{ since: new Date(t0), downMs: 75_000 }]);
    const after = await o.collect();
    expect(after.value("marketmeter.checkpoint.lag")).toBe(0);
    expect(after.value("marketmeter.usage.recorded", { dimension: "api_calls" })).toBe(2);
    expect(after.value("marketmeter.grains", { state: "pending" })).toBe(1);
    await m.close();
  });

  it("a store that still reads but cannot write (disk full) is unreachable: scrapes do not hide it", async () => {
    const { store, state } = flakyStore();
    const m = bed.make({ store, storeUnreachableMs: 60_000, metrics: { meterProvider: o.meterProvider } });
    const down = collect(m, "storeUnreachable");
    state.writesDown = true;
    m.record({ identity: CA1, dimension: "api_calls", quantity: 2 });
    await expect(m.checkpoint()).rejects.toThrow();
    for (let i = 0; i < 4; i++) {
      bed.advance(20_000);
      // A scrape reads the store successfully in between.
      expect((await o.collect()).value("marketmeter.grains", { state: "pending" })).toBe(0);
      await expect(m.flush()).rejects.toThrow();
    }
    expect(down).toHaveLength(1);
    expect(down[0]?.downMs).toBe(60_000);
    state.writesDown = false;
    await m.close();
  });

  it("a store that hangs does not hang the scrape: the other metrics are still served", async () => {
    const { store } = flakyStore();
    const hanging: UsageStore = { ...store, counts: () => new Promise(() => {}) };
    const m = bed.make({ store: hanging, metrics: { meterProvider: o.meterProvider } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 3 });
    await m.checkpoint();
    const p = await o.collect();
    expect(p.value("marketmeter.usage.recorded", { dimension: "api_calls" })).toBe(3);
    expect(p.value("marketmeter.checkpoint.lag")).toBe(0);
    expect(p.value("marketmeter.grains", { state: "pending" })).toBeUndefined();
    await m.close();
  });

  it("enabled: false creates no instrument", async () => {
    const m = bed.make({ metrics: { meterProvider: o.meterProvider, enabled: false } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(1);
    expect((await o.collect()).names()).toEqual([]);
    await m.close();
  });

  it("refuses a malformed metrics option with INVALID_CONFIG", () => {
    for (const metrics of [1, { meterProvider: {} }, { enabled: "yes" }, { refreshIntervalMs: 10 }, { x: 1 }])
      expect(() => bed.make({ metrics } as never)).toThrow(
        expect.objectContaining({ code: "INVALID_CONFIG" }) as unknown as Error,
      );
    expect(() => bed.make({ storeUnreachableMs: -1 })).toThrow(/storeUnreachableMs/);
  });
});
