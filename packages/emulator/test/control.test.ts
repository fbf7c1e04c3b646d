import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetEntitlementsCommand,
  InvalidParameterException,
} from "@aws-sdk/client-marketplace-entitlement-service";
import { ThrottlingException } from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  createEmulatorState,
  demoConfig,
  type Emulator,
  isEmulatorError,
  startEmulator,
} from "../src/index.js";
import { defined } from "./defined.js";
import { bmu, ca, DEMO, entitlement, H09, H10, metering, rejects, startTestEmulator } from "./helpers.js";

let emu: Emulator;
beforeEach(async () => {
  emu = await startTestEmulator();
});
afterEach(async () => {
  await emu.close();
});

const ctl = async (path: string, body?: unknown, method = body === undefined ? "GET" : "POST") => {
  const res = await fetch(`${emu.endpoint}/_emulator/${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          body: typeof body === "string" ? body : JSON.stringify(body),
          headers: { "content-type": "application/json" },
        }),
  });
  const text = await res.text();
  return {
    status: res.status,
    type: res.headers.get("content-type"),
    text,
    json: text.startsWith("{") || text.startsWith("[") ? JSON.parse(text) : undefined,
  };
};

describe("control API", () => {
  it("GET health and clock; POST clock set/advance/freeze", async () => {
    expect((await ctl("health")).json).toMatchObject({
      ok: true,
      now: DEMO.now,
      frozen: true,
      endpoint: emu.endpoint,
    });
    expect((await ctl("clock", { advance: "90m" })).json).toEqual({
      now: "2026-07-15T12:00:00.000Z",
      frozen: true,
    });
    expect((await ctl("clock", { set: "2026-07-01T00:00:00Z" })).json.now).toBe("2026-07-01T00:00:00.000Z");
    expect((await ctl("clock", { advanceMs: 1000 })).json.now).toBe("2026-07-01T00:00:01.000Z");
    expect((await ctl("clock", { freeze: false })).json.frozen).toBe(false);
    expect((await ctl("clock", { advance: "soon" })).json.error.code).toBe("EMU_INVALID_ARGUMENT");
  });

  it("POST tokens mints a token that ResolveCustomer accepts", async () => {
    const { json } = await ctl("tokens", { licenseArn: DEMO.L2 });
    const out = await metering(emu).send(
      new (await import("@aws-sdk/client-marketplace-metering")).ResolveCustomerCommand({
        RegistrationToken: json.token,
      }),
    );
    expect(out.LicenseArn).toBe(DEMO.L2);
    expect((await ctl("tokens", { licenseArn: "arn:aws:license-manager::1:license:l-nope" })).status).toBe(
      404,
    );
    expect((await ctl("tokens", {})).status).toBe(400);
  });

  it("POST buyers/subscribe|unsubscribe|deprovision|suspend change what metering answers", async () => {
    const c = metering(emu);
    expect((await ctl("buyers/subscribe", { licenseArn: DEMO.L3 })).json.license.meteringAllowed).toBe(true);
    expect((await bmu(c, [ca(H10, "api_calls", 1, DEMO.L3, DEMO.A2)])).Results?.[0]?.Status).toBe("Success");
    const dep = await ctl("buyers/deprovision", { licenseArn: DEMO.L2 });
    expect(dep.json.license.deprovisionedAt).toBe(DEMO.now);
    expect((await ctl("buyers/unsubscribe", { customerIdentifier: DEMO.C1 })).json.customer.status).toBe(
      "unsubscribe-pending",
    );
    expect((await ctl("buyers/suspend", { licenseArn: DEMO.L1 })).json.license.meteringAllowed).toBe(false);
    expect((await bmu(c, [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("CustomerNotSubscribed");
    expect(
      (await ctl("buyers/suspend", { licenseArn: DEMO.L1, suspended: false })).json.license.meteringAllowed,
    ).toBe(true);
    const created = await ctl("buyers/subscribe", {
      productCode: DEMO.P_L,
      customerAWSAccountId: "444455556666",
    });
    expect(created.json.customer).toMatchObject({ status: "subscribed", productCode: DEMO.P_L });
    expect((await ctl("buyers/deprovision", { licenseArn: DEMO.L2 })).status).toBe(409);
    expect((await ctl("buyers")).json.licenses.length).toBeGreaterThan(5);
  });

  it("POST/GET faults and profile validate their input", async () => {
    expect((await ctl("faults", { BatchMeterUsage: { throttle: { next: 1 } } })).json).toEqual({
      BatchMeterUsage: { throttle: { next: 1 } },
    });
    await rejects(bmu(metering(emu), [ca(H09, "api_calls", 1)]), ThrottlingException);
    expect((await ctl("faults")).json).toEqual({ BatchMeterUsage: { throttle: { next: 0 } } });
    expect((await ctl("faults", { Nope: {} })).json.error.code).toBe("EMU_INVALID_ARGUMENT");
    expect((await ctl("faults", { MeterUsage: { unprocessed: { next: 1 } } })).status).toBe(400);
    expect((await ctl("faults", { BatchMeterUsage: { throttle: { probability: 2 } } })).status).toBe(400);
    expect((await ctl("profile", { window: "6h" })).json.window).toBe("6h");
    expect((await ctl("profile")).json).toMatchObject({
      window: "6h",
      identicalResend: "success",
      tokenLifetimeMs: 14_400_000,
    });
    const bad = await ctl("profile", { window: "12h" });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toContain('"24h", "6h"');
    expect((await ctl("profile", { rateLimits: { Nope: 1 } })).status).toBe(400);
  });

  it("POST fixtures adds products, licenses, customers, tokens, entitlements atomically", async () => {
    const lic = "arn:aws:license-manager::294406891311:license:l-b123456789abcdef0123456789abcdef";
    const added = await ctl("fixtures", {
      products: [{ productCode: "pnew1234567890abcdefghijk", dimensions: ["users"], pricing: "contract" }],
      licenses: [
        { licenseArn: lic, customerAWSAccountId: DEMO.A3, productCode: "pnew1234567890abcdefghijk" },
      ],
      tokens: [{ token: "fixture-token", licenseArn: lic }],
      entitlements: [
        {
          productCode: "pnew1234567890abcdefghijk",
          dimension: "users",
          licenseArn: lic,
          customerAWSAccountId: DEMO.A3,
          value: 10,
        },
      ],
    });
    expect(added.json.added).toEqual({ products: 1, licenses: 1, customers: 0, tokens: 1, entitlements: 1 });
    const ent = await entitlement(emu).send(
      new GetEntitlementsCommand({ ProductCode: "pnew1234567890abcdefghijk" }),
    );
    expect(ent.Entitlements?.[0]?.Value).toEqual({ IntegerValue: 10 });
    const bad = await ctl("fixtures", {
      products: [{ productCode: "pbad", dimensions: ["x"] }],
      licenses: [{ licenseArn: "nope" }],
    });
    expect(bad.status).toBe(400);
    expect(emu.state.products.has("pbad")).toBe(false);
    expect((await ctl("fixtures", { widgets: [] })).status).toBe(400);
  });

  it("GET ledger filters by region, product, customer, dimension and hour; duplicates, rejected, calls", async () => {
    await bmu(metering(emu), [ca(H09, "api_calls", 1), ca(H10, "gb_stored", 2)]);
    await bmu(metering(emu, "eu-west-1"), [ca(H09, "api_calls", 3)]);
    await bmu(metering(emu), [ca(H09, "api_calls", 4)]);
    await bmu(metering(emu), [ca("12:00:00" as never, "api_calls", 4)]).catch(() => undefined);
    expect((await ctl("ledger")).json).toHaveLength(3);
    expect((await ctl("ledger?region=eu-west-1")).json.map((r: { quantity: number }) => r.quantity)).toEqual([
      3,
    ]);
    expect((await ctl(`ledger?product=${DEMO.P_CA}&dimension=gb_stored`)).json).toHaveLength(1);
    expect((await ctl(`ledger?customer=${DEMO.L1}&hour=2026-07-15T09:59:00Z`)).json).toHaveLength(2);
    expect((await ctl("ledger?hour=garbage")).status).toBe(400);
    expect((await ctl("duplicates")).json).toEqual([
      expect.objectContaining({ billedQuantity: 1, attemptedQuantity: 4 }),
    ]);
    expect((await ctl("rejected")).json).toEqual([
      expect.objectContaining({ errorType: "TimestampOutOfBoundsException", httpStatus: 400 }),
    ]);
    expect((await ctl("calls")).json.map((c: { status: number }) => c.status)).toEqual([200, 200, 200, 400]);
  });

  it("POST reset restores fixtures and clears the ledger", async () => {
    await bmu(metering(emu), [ca(H09, "api_calls", 1)]);
    await ctl("buyers/deprovision", { licenseArn: DEMO.L1 });
    await ctl("clock", { advance: "5h" });
    expect((await ctl("reset", {})).json).toMatchObject({ ok: true, now: DEMO.now });
    expect(emu.ledger()).toEqual([]);
    expect(emu.state.licenses.get(DEMO.L1)?.deprovisionedAt).toBeUndefined();
  });

  it("GET / and /billing serve the billing page as HTML (or 503 while the page is unavailable); unknown routes → 404 JSON", async () => {
    for (const p of ["", "billing"]) {
      const r = await ctl(p);
      expect([200, 503]).toContain(r.status);
      if (r.status === 200) expect(r.type).toContain("text/html");
    }
    const nf = await ctl("does/not/exist");
    expect(nf.status).toBe(404);
    expect(nf.json.error.code).toBe("EMU_NOT_FOUND");
    expect((await ctl("health", {}, "DELETE")).status).toBe(404);
  });

  it("POST webhooks validates URLs", async () => {
    expect((await ctl("webhooks", { eventBridge: [{ url: "ftp://x" }] })).status).toBe(400);
    expect((await ctl("webhooks", { eventBridge: [{ url: "http://127.0.0.1:1/hook" }] })).status).toBe(200);
    expect(emu.state.webhooks.eventBridge?.[0]?.url).toBe("http://127.0.0.1:1/hook");
  });

  it("GET keys/register-usage.pem serves a PEM public key", async () => {
    const r = await ctl("keys/register-usage.pem");
    expect(r.text).toContain("BEGIN PUBLIC KEY");
  });

  it("bad JSON to the control API → 400 JSON", async () => {
    const r = await ctl("profile", "{not json");
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe("EMU_INVALID_ARGUMENT");
  });
});

describe("GetEntitlements", () => {
  it("entitlements.pagination, entitlements.filters: paginates with MaxResults/NextToken and filters", async () => {
    const list = Array.from({ length: 7 }, (_, i) => ({
      productCode: DEMO.P_OTHER,
      dimension: i % 2 ? "seats" : "admins",
      customerAWSAccountId: String(100000000000 + i),
      value: i % 3 === 0 ? { StringValue: `v${i}` } : i,
    }));
    emu.addProduct({ productCode: DEMO.P_OTHER, dimensions: ["seats", "admins"], pricing: "contract" });
    await emu.setEntitlements(list, { replaceAll: true });
    const e = entitlement(emu);
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await e.send(
        new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER, MaxResults: 3, NextToken: token }),
      );
      seen.push(...(out.Entitlements ?? []).map((x) => defined(x.CustomerAWSAccountId)));
      token = out.NextToken;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(list.map((x) => x.customerAWSAccountId));
    const seats = await e.send(
      new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER, Filter: { DIMENSION: ["seats"] } }),
    );
    expect(seats.Entitlements).toHaveLength(3);
    const one = await e.send(
      new GetEntitlementsCommand({
        ProductCode: DEMO.P_OTHER,
        Filter: { CUSTOMER_AWS_ACCOUNT_ID: ["100000000003"] },
      }),
    );
    expect(one.Entitlements?.[0]?.Value).toEqual({ StringValue: "v3" });
    await rejects(
      e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER, NextToken: "bogus" })),
      InvalidParameterException,
    );
    await rejects(
      e.send(
        new GetEntitlementsCommand({
          ProductCode: DEMO.P_OTHER,
          Filter: { CUSTOMER_IDENTIFIER: ["a"], CUSTOMER_AWS_ACCOUNT_ID: ["1"] },
        }),
      ),
      InvalidParameterException,
    );
    await rejects(
      e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER, MaxResults: 26 })),
      InvalidParameterException,
    );
  });

  it("entitlements.expiry: hides expired entitlements and expires them when the license ends", async () => {
    const e = entitlement(emu);
    expect(
      (await e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER }))).Entitlements,
    ).toHaveLength(1);
    await emu.deprovision({ licenseArn: DEMO.L4 });
    emu.clock.advance(3600_000);
    expect((await e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER }))).Entitlements).toEqual(
      [],
    );
  });
});

describe("configuration", () => {
  it("rejects bad configs with a coded error naming the path", async () => {
    const bad = [
      { products: [{ productCode: "p$", dimensions: ["a"] }] },
      { products: [{ productCode: "p1", dimensions: [] }] },
      { licenses: [{ licenseArn: DEMO.L1, customerAWSAccountId: DEMO.A1, productCode: "missing" }] },
      { profile: { window: "1h" } },
      { faults: { BatchMeterUsage: { throttle: { next: -1 } } } },
      { clock: { start: "not a date" } },
      { unknownKey: 1 },
    ];
    for (const config of bad) {
      const err = await startEmulator({ config: config as never }).then(
        async (e) => {
          await e.close();
          return undefined;
        },
        (x) => x,
      );
      expect(isEmulatorError(err)).toBe(true);
      expect(err.code).toBe("EMU_INVALID_CONFIG");
    }
    await expect(startEmulator({ port: 70000 })).rejects.toMatchObject({ code: "EMU_INVALID_ARGUMENT" });
  });

  it("loads a JSON config file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "emu-cfg-"));
    try {
      const file = join(dir, "config.json");
      writeFileSync(file, JSON.stringify(demoConfig({ frozen: true })));
      const e = await startEmulator({ config: file });
      try {
        expect(e.clock.now().toISOString()).toBe(DEMO.now);
        expect((await bmu(metering(e), [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
      } finally {
        await e.close();
      }
      writeFileSync(file, "{oops");
      await expect(startEmulator({ config: file })).rejects.toMatchObject({ code: "EMU_INVALID_CONFIG" });
      await expect(startEmulator({ config: join(dir, "missing.json") })).rejects.toMatchObject({
        code: "EMU_INVALID_CONFIG",
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the clock ticks from a set time unless frozen; faults replay identically for a seed", () => {
    const s = createEmulatorState({});
    s.clock.set("2030-01-01T00:00:00Z");
    expect(s.clock.frozen).toBe(false);
    expect(s.clock.now().getTime()).toBeGreaterThanOrEqual(Date.parse("2030-01-01T00:00:00Z"));
    s.clock.freeze();
    const t = s.clock.now().getTime();
    s.clock.advance(5000);
    expect(s.clock.now().getTime()).toBe(t + 5000);
    const pattern = (seed: number) => {
      const st = createEmulatorState({ seed });
      st.setFaults({ BatchMeterUsage: { throttle: { probability: 0.5 } } });
      return Array.from({ length: 32 }, () => st.faults.requestFault("BatchMeterUsage") ?? "-").join("");
    };
    expect(pattern(7)).toBe(pattern(7));
    expect(pattern(7)).not.toBe(pattern(8));
  });

  it("programmatic API validates input with coded errors", async () => {
    expect(() => emu.mintToken({})).toThrow(expect.objectContaining({ code: "EMU_INVALID_ARGUMENT" }));
    expect(() => emu.setProfile({ finalWindowMs: -1 })).toThrow(
      expect.objectContaining({ code: "EMU_INVALID_ARGUMENT" }),
    );
    expect(() =>
      emu.addLicense({ licenseArn: "x", customerAWSAccountId: DEMO.A1, productCode: DEMO.P_CA }),
    ).toThrow(expect.objectContaining({ code: "EMU_INVALID_CONFIG" }));
    await expect(
      emu.subscribe({ licenseArn: "arn:aws:license-manager::1:license:l-zz" }),
    ).rejects.toMatchObject({ code: "EMU_INVALID_ARGUMENT" });
    expect(() => emu.ledger({ hour: "nope" })).toThrow(
      expect.objectContaining({ code: "EMU_INVALID_ARGUMENT" }),
    );
  });
});
