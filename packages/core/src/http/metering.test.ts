import { afterEach, describe, expect, it } from "vitest";
import { defined } from "../../test/defined.js";
import { isMarketplaceError } from "../errors/index.js";
import {
  applyMeterSpec,
  createMeter,
  DEFAULT_METER_STATE,
  findMeterState,
  firstToFinish,
  meterStateOf,
  parseMeterSpec,
  skipMeteringOf,
} from "./metering.js";
import { declareHttpSettings } from "./settings.js";
import { dryMarketplace, ID, licenseUpdated } from "./testbed.test-helper.js";

type Args = [req: { customer?: unknown; rows?: number }];
const open: Array<{ close(): Promise<void> }> = [];
const make = () => {
  const m = dryMarketplace();
  open.push(m);
  return m;
};
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});
const silent = { debug() {}, info() {}, warn() {}, error() {} };
/** A meter on a fresh marketplace whose customer is `req.customer`, collecting what reaches onError. */
const meterWithErrors = () => {
  const m = make();
  const errors: unknown[] = [];
  const meter = createMeter<Args>(m, {
    getCustomer: (req) => req.customer as never,
    dimension: "api_calls",
    onError: (e) => errors.push(e),
    logger: silent,
  });
  return { m, meter, errors };
};

describe("createMeter", () => {
  it("uses the getCustomer and logger declared once on the marketplace unless given its own", async () => {
    const m = make();
    const logged: unknown[] = [];
    const logger = { ...silent, error: (o: unknown) => logged.push(o) };
    declareHttpSettings(m, { getCustomer: (req: Args[0]) => req.customer as never, logger });
    const meter = createMeter<Args>(m, { dimension: "api_calls" });
    meter.finishDefault(200, { customer: ID });
    meter.finishDefault(200, { customer: 42 });
    expect(m.stats().records).toBe(1);
    expect(logged).toEqual([expect.objectContaining({ code: "INVALID_ARGUMENT" })]);
    const own = createMeter<Args>(m, {
      dimension: "api_calls",
      getCustomer: () => undefined,
      logger: silent,
    });
    own.finishDefault(200, { customer: ID });
    expect(m.stats().records).toBe(1);
    expect(() => createMeter<Args>(make(), { dimension: "api_calls" })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
  });

  it("records one unit of the default dimension for status < 400, and nothing otherwise", async () => {
    const m = make();
    const meter = createMeter<Args>(m, {
      getCustomer: (req) => req.customer as never,
      dimension: "api_calls",
    });
    for (const status of [200, 204, 302, 399, 400, 404, 500]) {
      const req = { customer: ID };
      const state = meter.begin(req);
      expect(state).toBeDefined();
      meter.finish(defined(state), status, [req]);
    }
    expect(m.stats()).toMatchObject({ records: 4, quantity: 4 });
    const [grain] = await m.report();
    expect(grain).toMatchObject({ dimension: "api_calls", quantity: 4 });
  });

  it("claims a request once, so a second mounting stands aside", () => {
    const m = make();
    const meter = createMeter<Args>(m, { getCustomer: () => ID, dimension: "api_calls" });
    const other = createMeter<Args>(m, { getCustomer: () => ID, dimension: "api_calls" });
    const req = {};
    expect(meter.begin(req)).toBeDefined();
    expect(other.begin(req)).toBeUndefined();
    expect(meter.begin(req)).toBeUndefined();
  });

  it("applies route overrides, computed quantities and the skip flag", async () => {
    const m = make();
    const meter = createMeter<Args>(m, { getCustomer: () => ID, dimension: "api_calls", quantity: 2 });
    const a = {};
    applyMeterSpec(
      a,
      parseMeterSpec<Args>("tokens", (req) => req.rows ?? 0),
    );
    await meter.finish(defined(meter.begin(a)), 200, [{ rows: 40 }]);
    const b = {};
    skipMeteringOf(b);
    meter.finish(defined(meter.begin(b)), 200, [{}]);
    meter.finish(defined(meter.begin({})), 200, [{}]);
    expect(m.stats().records).toBe(2);
    const rows = await m.report();
    expect(rows.map((r) => [r.dimension, r.quantity]).sort()).toEqual([
      ["api_calls", 2],
      ["tokens", 40],
    ]);
  });

  it("resolves async customers and quantities; failures go to onError and never throw", async () => {
    const { m, meter, errors } = meterWithErrors();
    await meter.finish(defined(meter.begin({})), 200, [{ customer: Promise.resolve(ID) }]);
    await meter.finish(defined(meter.begin({})), 200, [{ customer: Promise.reject(new Error("db down")) }]);
    const throwing = createMeter<Args>(m, {
      getCustomer: () => {
        throw new Error("boom");
      },
      dimension: "api_calls",
      onError: (e) => errors.push(e),
      logger: silent,
    });
    expect(() => throwing.finish(defined(throwing.begin({})), 200, [{}])).not.toThrow();
    const bad = {};
    applyMeterSpec(bad, parseMeterSpec<Args>({ quantity: () => -1 }));
    await meter.finish(defined(meter.begin(bad)), 200, [{ customer: ID }]);
    const unknown = {};
    applyMeterSpec(unknown, parseMeterSpec<Args>("no_such_dimension"));
    await meter.finish(defined(meter.begin(unknown)), 200, [{ customer: ID }]);
    expect(m.stats().records).toBe(1);
    expect(errors.map((e) => (isMarketplaceError(e) ? e.code : (e as Error).message))).toEqual([
      "db down",
      "boom",
      "INVALID_QUANTITY",
      "INVALID_DIMENSION",
    ]);
  });

  it("bills tenants through the customer directory and reports tenants without a subscription", async () => {
    const { m, meter, errors } = meterWithErrors();
    meter.finish(defined(meter.begin({})), 200, [{ customer: "tenant-1" }]);
    expect(errors).toHaveLength(1);
    expect(isMarketplaceError(errors[0], "ACCESS_DENIED")).toBe(true);
    await m.handleEventBridge(licenseUpdated());
    const record = defined(m.buyers.directory.getByIdentity(ID));
    await m.buyers.directory.save({ ...record, tenantId: "tenant-1" });
    meter.finish(defined(meter.begin({})), 200, [{ customer: { tenantId: "tenant-1" } }]);
    meter.finish(defined(meter.begin({})), 200, [{ customer: undefined }]);
    expect(m.stats().records).toBe(1);
    expect((await m.report())[0]).toMatchObject({ identity: ID, quantity: 1 });
  });

  it("treats every shape getCustomer may return the same on the common path and the slow one", async () => {
    const { m, meter, errors } = meterWithErrors();
    const zero = {};
    applyMeterSpec(zero, parseMeterSpec<Args>("api_calls", 0));
    const late: unknown[] = [];
    for (const [carrier, customer] of [
      [{}, ID], // the common path
      [{}, { ...ID }], // a new object for a known identity
      [{}, Promise.resolve(ID)], // async getCustomer
      // biome-ignore lint/suspicious/noThenProperty: a hand-made thenable is what this case tests
      [{}, { then: (ok: (v: unknown) => void) => ok(ID) }], // any thenable
      [zero, ID], // quantity 0: nothing recorded
      [{}, null], // anonymous
      [{}, ""], // anonymous
      [{}, 42], // not a customer: an error, never a throw
    ] as const)
      late.push(meter.finish(defined(meter.begin(carrier)), 200, [{ customer }]));
    await Promise.all(late);
    expect(m.stats()).toMatchObject({ records: 4, quantity: 4 });
    expect(errors.map((e) => (isMarketplaceError(e) ? e.code : e))).toEqual(["INVALID_ARGUMENT"]);
  });

  it("validates its options with coded errors", () => {
    const m = make();
    const bad = [
      () => createMeter(undefined as never, { getCustomer: () => ID, dimension: "api_calls" }),
      () => createMeter(m, undefined as never),
      () => createMeter(m, { dimension: "api_calls" } as never),
      () => createMeter(m, { getCustomer: () => ID, dimension: "" }),
      () => createMeter(m, { getCustomer: () => ID, dimension: "api_calls", quantity: -1 }),
      () => createMeter(m, { getCustomer: () => ID, dimension: "api_calls", quantity: 1.5 }),
      () => createMeter(m, { getCustomer: () => ID, dimension: "api_calls", shouldMeter: true as never }),
      () => createMeter(m, { getCustomer: () => ID, dimension: "api_calls", onError: "x" as never }),
      () => parseMeterSpec({}),
      () => parseMeterSpec(42 as never),
      () => parseMeterSpec("", 1),
    ];
    for (const f of bad) expect(f).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });

  it("keeps one state per carrier under a shared Symbol.for key", () => {
    const req = {};
    expect(findMeterState(req)).toBeUndefined();
    expect(meterStateOf(req)).toBe(meterStateOf(req));
    expect(findMeterState(req)).toBe(meterStateOf(req));
    expect(Object.getOwnPropertySymbols(req).map(String)).toEqual(["Symbol(marketmeter.http.meterState)"]);
  });
});

describe("firstToFinish", () => {
  it("lets only the first listener of a finishing response through, then the next response's", () => {
    const a = {};
    const b = {};
    expect([firstToFinish(a), firstToFinish(a), firstToFinish(a)]).toEqual([true, false, false]);
    expect([firstToFinish(b), firstToFinish(b)]).toEqual([true, false]);
    expect(firstToFinish(a)).toBe(true);
  });

  it("is shared by every copy of the package, through a global registered symbol", () => {
    const shared = (globalThis as Record<symbol, { last?: object }>)[Symbol.for("marketmeter.http.finished")];
    const res = {};
    expect(firstToFinish(res)).toBe(true);
    expect(shared?.last).toBe(res);
  });

  it("the shared default state meters with the middleware's options and cannot be changed", () => {
    expect(DEFAULT_METER_STATE).toMatchObject({ skip: false, dimension: undefined, quantity: undefined });
    expect(Object.isFrozen(DEFAULT_METER_STATE)).toBe(true);
  });
});

describe("finishDefault", () => {
  type Two = [req: { customer?: unknown }, res: { rows?: number }];
  it("meters a request nothing overrode like finish() with the default state, passing the arguments one by one", async () => {
    const m = make();
    const seen: unknown[][] = [];
    const meter = createMeter<Two>(m, {
      getCustomer: (...args) => {
        seen.push(args);
        return args[0].customer as never;
      },
      shouldMeter: (_req, res) => (res.rows ?? 0) > 0,
      quantity: 3,
      dimension: "api_calls",
    });
    const req = { customer: ID };
    meter.finishDefault(200, req, { rows: 1 });
    meter.finishDefault(200, req, { rows: 0 });
    expect(seen).toEqual([[req, { rows: 1 }]]);
    expect(m.stats()).toMatchObject({ records: 1, quantity: 3 });
    const [grain] = await m.report();
    expect(grain).toMatchObject({ dimension: "api_calls", quantity: 3 });
  });

  it("a one-argument framework: async customers, computed quantities and errors get the same tuple as finish()", async () => {
    const m = make();
    const errors: unknown[][] = [];
    const meter = createMeter<Args>(m, {
      getCustomer: async (req) => req.customer as never,
      quantity: (req) => req.rows ?? 0,
      dimension: "api_calls",
      onError: (...args) => errors.push(args),
      logger: silent,
    });
    await meter.finishDefault(200, { customer: ID, rows: 5 });
    const bad = { customer: ID, rows: -1 };
    await meter.finishDefault(200, bad);
    meter.finishDefault(500, { customer: ID, rows: 9 });
    expect(m.stats()).toMatchObject({ records: 1, quantity: 5 });
    expect(errors).toHaveLength(1);
    expect(isMarketplaceError(errors[0]?.[0], "INVALID_QUANTITY")).toBe(true);
    expect(errors[0]?.slice(1)).toEqual([bad]);
  });
});
