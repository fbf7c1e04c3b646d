process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBuyers } from "../src/lifecycle/index.js";
import { createMarketplace } from "../src/marketplace/index.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const FORM = { "content-type": "application/x-www-form-urlencoded" };
const post = (token: string, extra = "") => ({
  method: "POST",
  headers: FORM,
  body: Buffer.from(`x-amzn-marketplace-token=${encodeURIComponent(token)}${extra}`),
});

let emu: Emulator;
let metering: MarketplaceMeteringClient;
let entitlement: MarketplaceEntitlementServiceClient;
const logs: string[] = [];
const logger = {
  debug: (o: object, m?: string) => logs.push(JSON.stringify(o) + (m ?? "")),
  info: (o: object, m?: string) => logs.push(JSON.stringify(o) + (m ?? "")),
  warn: (o: object, m?: string) => logs.push(JSON.stringify(o) + (m ?? "")),
  error: (o: object, m?: string) => logs.push(JSON.stringify(o) + (m ?? "")),
};

beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  const common = { region: "us-east-1", endpoint: emu.endpoint, credentials, maxAttempts: 1 };
  metering = new MarketplaceMeteringClient(common);
  entitlement = new MarketplaceEntitlementServiceClient(common);
});
afterAll(async () => {
  metering.destroy();
  entitlement.destroy();
  await emu.close();
});
beforeEach(() => {
  emu.reset();
  logs.length = 0;
});

function buyers(products = [DEMO.P_CA, DEMO.P_L], ttlMs?: number) {
  return createBuyers({
    products,
    meteringClient: metering,
    entitlementClient: entitlement,
    clock: () => emu.clock.now().getTime(),
    logger,
    ...(ttlMs ? { registration: { ttlMs } } : {}),
  });
}

const resolveCalls = () => emu.calls().filter((c) => c.operation === "ResolveCustomer").length;

describe("registration against the emulator", () => {
  it("a token minted there resolves (account + license), and links to a tenant", async () => {
    const b = buyers();
    const reg = await b.register(post(DEMO.T_OK));
    expect(reg).toMatchObject({
      productCode: DEMO.P_CA,
      identity: { productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1 },
      freeTrial: false,
    });
    expect(reg.id).toMatch(/^reg_[A-Za-z0-9_-]{32}$/);
    expect(reg.expiresAt - reg.createdAt).toBe(3_600_000);
    expect(b.directory.get(reg.customerId)).toMatchObject({ status: "pending" });
    expect(b.directory.get(reg.customerId)?.tenantId).toBeUndefined();
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({ allowed: false, reason: "not-registered" });

    const customer = await b.link(reg.id, "tenant-1");
    expect(customer).toMatchObject({ tenantId: "tenant-1", licenseArn: DEMO.L1, status: "pending" });
    // Registered but AWS has not confirmed the subscription: no access yet.
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({
      allowed: false,
      reason: "pending",
      httpStatus: 403,
    });
  });

  it("a freshly minted token with + / = in it and a free-trial marker", async () => {
    const token = emu.mintToken({ licenseArn: DEMO.L2, token: "a+b/c=d+/==" });
    const reg = await buyers().register(post(token, "&x-amzn-marketplace-offer-type=free-trial"));
    expect(reg).toMatchObject({ licenseArn: DEMO.L2, freeTrial: true });
  });

  it("a legacy product's token gives the customer identifier as the billing identity", async () => {
    const reg = await buyers().register({ method: "GET", query: { "x-amzn-marketplace-token": DEMO.T_LEG } });
    expect(reg.identity).toEqual({ productCode: DEMO.P_L, customerIdentifier: DEMO.C1 });
    expect(reg.customerAWSAccountId).toBe(DEMO.A3);
  });

  it("a double submit returns the same registration and resolves once", async () => {
    const b = buyers();
    const [r1, r2] = await Promise.all([b.register(post(DEMO.T_OK)), b.register(post(DEMO.T_OK))]);
    const r3 = await b.register(post(DEMO.T_OK));
    expect(r2.id).toBe(r1.id);
    expect(r3.id).toBe(r1.id);
    expect(resolveCalls()).toBe(1);
    expect(b.directory.size).toBe(1);
    await b.link(r1.id, "t1");
    // Even after linking, the same token gives the same (now linked) registration, not an error.
    expect(await b.register(post(DEMO.T_OK))).toMatchObject({ id: r1.id, tenantId: "t1" });
  });

  it("the token never reaches the logs", async () => {
    const b = buyers();
    await b.register(post(DEMO.T_OK));
    await b.register(post(DEMO.T_OLD)).catch(() => {});
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) {
      expect(line).not.toContain(DEMO.T_OK);
      expect(line).not.toContain(encodeURIComponent(DEMO.T_OK));
      expect(line).not.toContain(DEMO.T_OLD);
    }
  });

  it("an expired token → EXPIRED_TOKEN telling the buyer to click Set up your account again", async () => {
    await expect(buyers().register(post(DEMO.T_OLD))).rejects.toMatchObject({
      code: "EXPIRED_TOKEN",
      message: expect.stringMatching(/AWS Marketplace.*Set up your account/),
      details: { httpStatus: 400 },
    });
  });

  it("a garbage token and another seller's token → INVALID_TOKEN", async () => {
    await expect(buyers().register(post("garbage"))).rejects.toMatchObject({ code: "INVALID_TOKEN" });
    await expect(buyers().register(post(DEMO.T_FOREIGN))).rejects.toMatchObject({ code: "INVALID_TOKEN" });
  });

  it("a token of a product we do not sell → FOREIGN_PRODUCT", async () => {
    await expect(buyers([DEMO.P_CA]).register(post(DEMO.T_LEG))).rejects.toMatchObject({
      code: "FOREIGN_PRODUCT",
      details: { httpStatus: 400 },
    });
  });

  it("AWS failures → AWS_UNAVAILABLE (503, retry)", async () => {
    emu.setFaults({ ResolveCustomer: { internalError: { next: 1 } } });
    await expect(buyers().register(post(DEMO.T_OK))).rejects.toMatchObject({
      code: "AWS_UNAVAILABLE",
      details: { httpStatus: 503 },
    });
    emu.setFaults({ ResolveCustomer: { throttle: { next: 1 } } });
    await expect(buyers().register(post(DEMO.T_OK))).rejects.toMatchObject({ code: "AWS_UNAVAILABLE" });
    const down = createBuyers({
      products: [DEMO.P_CA],
      aws: { endpoint: "http://127.0.0.1:9", credentials, maxAttempts: 1 },
    });
    await expect(down.register(post(DEMO.T_OK))).rejects.toMatchObject({ code: "AWS_UNAVAILABLE" });
    await down.close();
  });

  it("linking twice, after expiry, an unknown id, or to a second tenant is refused", async () => {
    const b = buyers(undefined, 60_000);
    const reg = await b.register(post(DEMO.T_OK));
    await b.link(reg.id, "tenant-a");
    await expect(b.link(reg.id, "tenant-a")).rejects.toMatchObject({ code: "REGISTRATION_ALREADY_LINKED" });
    await expect(b.link("reg_doesnotexistdoesnotexistdoesno", "t")).rejects.toMatchObject({
      code: "REGISTRATION_NOT_FOUND",
      details: { httpStatus: 404 },
    });
    await expect(b.link("../etc", "t")).rejects.toMatchObject({ code: "REGISTRATION_NOT_FOUND" });
    await expect(b.link(reg.id, "")).rejects.toMatchObject({ code: "INVALID_ARGUMENT" });

    // The buyer comes back with a new token: same license, so same directory record.
    const again = await b.register(post(emu.mintToken({ licenseArn: DEMO.L1 })));
    expect(again.id).not.toBe(reg.id);
    expect(again.customerId).toBe(reg.customerId);
    await expect(b.link(again.id, "tenant-b")).rejects.toMatchObject({
      code: "IDENTITY_ALREADY_LINKED",
      details: { httpStatus: 409 },
    });
    expect(await b.link(again.id, "tenant-a")).toMatchObject({ tenantId: "tenant-a" });

    const late = await b.register(post(emu.mintToken({ licenseArn: DEMO.L2 })));
    emu.clock.advance(60_001);
    await expect(b.link(late.id, "tenant-c")).rejects.toMatchObject({
      code: "REGISTRATION_EXPIRED",
      details: { httpStatus: 410 },
    });
  });

  it("records created by SNS (legacy id) and EventBridge (license) before registration are merged", async () => {
    const probe = await buyers().register(post(DEMO.T_LEG));
    const licenseArn = probe.licenseArn as string;
    expect(licenseArn).toMatch(/^arn:aws:license-manager:/);
    const b = buyers();
    const t = emu.clock.now().getTime();
    await b.directory.save({
      id: "cus_from_sns",
      productCode: DEMO.P_L,
      identity: { productCode: DEMO.P_L, customerIdentifier: DEMO.C1 },
      customerIdentifier: DEMO.C1,
      status: "active",
      statusAt: t - 60_000,
      createdAt: t,
      updatedAt: t,
    });
    await b.handleEventBridge({
      id: "ev-leg-1",
      "detail-type": "License Updated - Manufacturer",
      source: "aws.agreement-marketplace",
      time: new Date(t).toISOString(),
      detail: {
        product: { code: DEMO.P_L },
        license: { arn: licenseArn.slice(4) },
        acceptor: { accountId: DEMO.A3 },
        agreement: { id: "agmt-leg" },
      },
    });
    expect(b.directory.size).toBe(2);
    const reg = await b.register(post(DEMO.T_LEG));
    expect(b.directory.size).toBe(1);
    expect(b.directory.get(reg.customerId)).toMatchObject({
      identity: { productCode: DEMO.P_L, customerIdentifier: DEMO.C1 },
      customerIdentifier: DEMO.C1,
      licenseArn,
      agreementId: "agmt-leg",
      status: "active",
      statusAt: Math.floor(t / 1000) * 1000,
    });
    await b.link(reg.id, "tenant-leg");
    expect(b.access({ tenantId: "tenant-leg" }).allowed).toBe(true);
  });

  it("Concurrent Agreements: two licenses of one account are two records", async () => {
    const b = buyers();
    const r1 = await b.register(post(DEMO.T_OK));
    const r2 = await b.register(post(emu.mintToken({ licenseArn: DEMO.L2 })));
    expect(r1.customerId).not.toBe(r2.customerId);
    await b.link(r1.id, "tenant-1");
    await b.link(r2.id, "tenant-2");
    expect(b.directory.getByTenant("tenant-1")[0]?.licenseArn).toBe(DEMO.L1);
    expect(b.directory.getByTenant("tenant-2")[0]?.licenseArn).toBe(DEMO.L2);
  });

  it("register → link → License Updated → record + flush is billed in the emulator's ledger", async () => {
    const b = buyers();
    const reg = await b.register(post(DEMO.T_OK));
    await b.link(reg.id, "tenant-1");
    await b.handleEventBridge({
      version: "0",
      id: "ev-license-updated-1",
      "detail-type": "License Updated - Manufacturer",
      source: "aws.agreement-marketplace",
      time: emu.clock.now().toISOString(),
      detail: {
        product: { code: DEMO.P_CA },
        license: { arn: DEMO.L1 },
        acceptor: { accountId: DEMO.A1 },
        agreement: { id: "agmt-1" },
      },
    });
    const decision = b.access({ tenantId: "tenant-1" });
    expect(decision.allowed).toBe(true);
    if (!decision.allowed) return;

    const marketplace = createMarketplace({
      products: [{ productCode: DEMO.P_CA }],
      dimensions: ["api_calls"],
      aws: { client: metering },
      clock: () => emu.clock.now().getTime(),
      autoStart: false,
    });
    marketplace.record({ identity: decision.identity, dimension: "api_calls", quantity: 7 });
    await marketplace.flush({ identity: decision.identity });
    const billed = emu.ledger().filter((r) => r.licenseArn === DEMO.L1 && r.dimension === "api_calls");
    expect(billed.map((r) => r.quantity)).toEqual([7]);
    await marketplace.close();
  });
});
