process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../src/errors/index.js";
import { type Buyers, createBuyers } from "../src/lifecycle/index.js";
import { waitFor } from "./helpers.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const SECRET = "webhook-secret-0123456789";
const TTL = 10 * 60_000;

let emu: Emulator;
let metering: MarketplaceMeteringClient;
let entitlement: MarketplaceEntitlementServiceClient;
let server: Server;
let base: string;
let b: Buyers;
let path = 0;

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  const common = { region: "us-east-1", endpoint: emu.endpoint, credentials, maxAttempts: 1 };
  metering = new MarketplaceMeteringClient(common);
  entitlement = new MarketplaceEntitlementServiceClient(common);
  server = createServer((req, res) => {
    void (async () => {
      const request = { method: req.method ?? "GET", headers: req.headers, body: await readAll(req) };
      try {
        const out = req.url?.startsWith("/events")
          ? await b.handleEventBridge(request)
          : await b.handleSns(request);
        res.writeHead(out.httpStatus).end(out.outcome);
      } catch (err) {
        res.writeHead(isMarketplaceError(err) ? Number(err.details?.httpStatus ?? 500) : 500).end();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise<void>((r) => {
    server.close(() => r());
    server.closeAllConnections();
  });
  metering.destroy();
  entitlement.destroy();
  await emu.close();
});
beforeEach(() => {
  emu.reset();
  path++;
  emu.setWebhooks({
    eventBridge: [{ url: `${base}/events/${path}`, secret: SECRET }],
    sns: [{ url: `${base}/sns/${path}` }],
  });
  b = createBuyers({
    products: [
      { productCode: DEMO.P_OTHER, contract: true },
      { productCode: DEMO.P_L, contract: true },
      DEMO.P_CA,
    ],
    meteringClient: metering,
    entitlementClient: entitlement,
    clock: () => emu.clock.now().getTime(),
    sns: { trustedCertificateOrigins: [emu.endpoint] },
    eventBridge: { secret: SECRET },
    entitlements: { ttlMs: TTL },
  });
});
afterEach(() => b.close());

const form = (token: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: `x-amzn-marketplace-token=${encodeURIComponent(token)}`,
});
const getEntitlementsCalls = () => emu.calls().filter((c) => c.operation === "GetEntitlements").length;
const L4 = { productCode: DEMO.P_OTHER, customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L4 };

async function activeContractBuyer(): Promise<void> {
  const reg = await b.register(form(emu.mintToken({ licenseArn: DEMO.L4 })));
  await b.link(reg.id, "tenant-contract");
  await emu.subscribe({ licenseArn: DEMO.L4 });
  await waitFor(
    () => b.directory.findByLicense(DEMO.L4)?.entitlements !== undefined,
    "entitlements after License Updated",
  );
}

describe("contract entitlements and access against the emulator", () => {
  it("License Updated fetches the entitlements; access allows with them", async () => {
    await activeContractBuyer();
    const decision = b.access({ tenantId: "tenant-contract" });
    expect(decision).toMatchObject({ allowed: true, entitlements: [{ dimension: "seats", value: 25 }] });
  });

  it("paginates GetEntitlements (25 per page), caches for the TTL and refreshes on demand", async () => {
    await activeContractBuyer();
    const many = Array.from({ length: 60 }, (_, i) => ({
      productCode: DEMO.P_OTHER,
      licenseArn: DEMO.L4,
      customerAWSAccountId: DEMO.A1,
      dimension: `dim_${i}`,
      value: i + 1,
    }));
    const before = getEntitlementsCalls();
    // setEntitlements replaces this buyer's entitlements and notifies License Updated; the handler refreshes.
    await emu.setEntitlements(many);
    await waitFor(() => b.directory.findByLicense(DEMO.L4)?.entitlements?.items.length === 60, "refresh");
    expect(getEntitlementsCalls() - before).toBe(3);

    const list = await b.entitlements(L4);
    expect(list).toHaveLength(60);
    expect(list.map((e) => e.value)).toEqual(many.map((e) => e.value));
    expect(getEntitlementsCalls() - before).toBe(3);
    await b.entitlements(L4, { refresh: true });
    expect(getEntitlementsCalls() - before).toBe(6);
    emu.clock.advance(TTL + 1);
    await b.entitlements(L4);
    expect(getEntitlementsCalls() - before).toBe(9);
  });

  it("a contract that lost its entitlements denies access (no-entitlement, 402)", async () => {
    await activeContractBuyer();
    const past = new Date(emu.clock.now().getTime() - 1000).toISOString();
    await emu.setEntitlements([
      {
        productCode: DEMO.P_OTHER,
        licenseArn: DEMO.L4,
        customerAWSAccountId: DEMO.A1,
        dimension: "seats",
        value: 25,
        expirationDate: past,
      },
    ]);
    await waitFor(() => !b.access({ tenantId: "tenant-contract" }).allowed, "no-entitlement");
    expect(b.access({ tenantId: "tenant-contract" })).toMatchObject({
      reason: "no-entitlement",
      httpStatus: 402,
    });
  });

  it("empty results and a missing ExpirationDate do not crash", async () => {
    expect(await b.entitlements({ productCode: DEMO.P_OTHER, customerAWSAccountId: DEMO.A2 })).toEqual([]);
    await activeContractBuyer();
    await emu.setEntitlements([
      {
        productCode: DEMO.P_OTHER,
        licenseArn: DEMO.L4,
        customerAWSAccountId: DEMO.A1,
        dimension: "sso",
        value: true,
      },
    ]);
    await waitFor(
      () => b.directory.findByLicense(DEMO.L4)?.entitlements?.items[0]?.dimension === "sso",
      "refresh",
    );
    const [sso] = await b.entitlements(L4);
    expect(sso).toEqual({
      productCode: DEMO.P_OTHER,
      dimension: "sso",
      value: true,
      customerAWSAccountId: DEMO.A1,
      licenseArn: DEMO.L4,
    });
    expect(b.access(L4)).toMatchObject({ allowed: true });
  });

  it("legacy entitlement-updated (signed SNS) refreshes by customer identifier", async () => {
    const reg = await b.register(form(DEMO.T_LEG));
    await b.link(reg.id, "tenant-leg");
    await emu.subscribe({ customerIdentifier: DEMO.C1 });
    await waitFor(() => b.directory.getByTenant("tenant-leg")[0]?.status === "active", "subscribe-success");
    // Active, but a contract product without entitlements yet.
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({ allowed: false, reason: "no-entitlement" });
    await emu.setEntitlements([
      { productCode: DEMO.P_L, customerIdentifier: DEMO.C1, dimension: "tier", value: "gold" },
    ]);
    await waitFor(() => b.access({ tenantId: "tenant-leg" }).allowed, "entitlement-updated");
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({
      entitlements: [{ dimension: "tier", value: "gold" }],
    });
  });

  it("entitlements() validates its input", async () => {
    await expect(
      b.entitlements({ productCode: "nope", customerAWSAccountId: DEMO.A1 }),
    ).rejects.toMatchObject({
      code: "UNKNOWN_PRODUCT",
    });
    await expect(b.entitlements({} as never)).rejects.toMatchObject({ code: "INVALID_IDENTITY" });
  });
});
