import { afterEach, describe, expect, it } from "vitest";
import { createGuard } from "./access.js";
import { declareHttpSettings } from "./settings.js";
import { dryMarketplace, ID, licenseUpdated } from "./testbed.test-helper.js";

type Args = [customer: unknown];
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  for (const m of open.splice(0)) await m.close();
});
const make = () => {
  const m = dryMarketplace();
  open.push(m);
  return m;
};

describe("createGuard", () => {
  it("uses the getCustomer and logger declared once on the marketplace unless given its own", async () => {
    const m = make();
    await m.buyers.ready();
    const warned: unknown[] = [];
    const logger = { debug() {}, info() {}, warn: (o: unknown) => warned.push(o), error() {} };
    declareHttpSettings(m, {
      getCustomer: (c: unknown) => {
        if (c === "throw") throw new Error("declared resolver ran");
        return c as never;
      },
      logger,
    });
    const guard = createGuard<Args>(m, {});
    expect(await guard([{ tenantId: "t" }])).toMatchObject({ allowed: false, problem: { status: 403 } });
    expect(await guard(["throw"])).toMatchObject({ allowed: false, problem: { status: 503 } });
    expect(warned).toEqual([expect.objectContaining({ error: "declared resolver ran" })]);
    const own = createGuard<Args>(m, { getCustomer: () => undefined });
    expect(await own(["throw"])).toMatchObject({ problem: { type: "urn:marketmeter:problem:no-customer" } });
    expect(() => createGuard<Args>(make(), {})).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });

  it("allows active buyers and denies others with problem bodies", async () => {
    const m = make();
    await m.buyers.ready();
    const guard = createGuard<Args>(m, { getCustomer: (c) => c as never });
    expect(await guard([undefined], "/x")).toMatchObject({
      allowed: false,
      problem: { status: 403, type: "urn:marketmeter:problem:no-customer", instance: "/x" },
    });
    expect(await guard([{ tenantId: "t" }])).toMatchObject({
      allowed: false,
      problem: { status: 403, reason: "not-registered" },
    });
    await m.handleEventBridge(licenseUpdated());
    const ok = await guard([ID]);
    expect(ok).toMatchObject({ allowed: true, decision: { allowed: true, identity: ID } });
  });

  it("fails closed with 503 when the check itself fails, open when configured", async () => {
    const m = make();
    const errors: unknown[] = [];
    const boom = () => {
      throw new Error("auth store down");
    };
    const closed = createGuard<Args>(m, { getCustomer: boom, onError: (e) => errors.push(e) });
    const r = await closed([undefined]);
    expect(r).toMatchObject({ allowed: false, problem: { status: 503 }, headers: { "retry-after": "5" } });
    const failOpen = createGuard<Args>(m, {
      getCustomer: () => Promise.reject(new Error("x")),
      failOpen: true,
    });
    expect(await failOpen([undefined])).toEqual({ allowed: true, decision: undefined });
    // A malformed identity is a failure of the check, not a denial.
    expect(await closed.call(null, [undefined])).toMatchObject({ problem: { status: 503 } });
    const badIdentity = createGuard<Args>(m, {
      getCustomer: () => ({ customerAWSAccountId: "nope" }) as never,
    });
    expect(await badIdentity([undefined])).toMatchObject({ problem: { status: 503 } });
    expect(errors).toHaveLength(2);
  });

  it("validates its options", () => {
    const m = make();
    expect(() => createGuard({} as never, { getCustomer: () => undefined })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => createGuard(m, {} as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
    expect(() => createGuard(m, { getCustomer: () => undefined, failOpen: "yes" as never })).toThrow(
      /failOpen/,
    );
  });
});
