process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

// The buyer lifecycle as users reach it: through the marketplace instance, with final metering and
// CustomerNotSubscribed feedback wired inside createMarketplace (no hand wiring in the app).
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../src/errors/index.js";
import { createMarketplace, type Marketplace } from "../src/marketplace/index.js";
import { waitFor } from "./helpers.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const SECRET = "facade-webhook-secret-0123";
const H = 3_600_000;

let emu: Emulator;
let server: Server;
let base: string;
let marketplace: Marketplace<"api_calls">;
let path = 0;

async function readAll(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const form = (token: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: `x-amzn-marketplace-token=${encodeURIComponent(token)}`,
});

beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const request = { method: req.method ?? "GET", headers: req.headers, body };
      try {
        const out = req.url?.startsWith("/events")
          ? await marketplace.handleEventBridge(request)
          : await marketplace.handleSns(request);
        res.writeHead(out.httpStatus, { "content-type": "application/json" }).end("{}");
      } catch (err) {
        const status = isMarketplaceError(err) ? Number(err.details?.httpStatus ?? 500) : 500;
        res.writeHead(status).end();
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
  await emu.close();
});

beforeEach(() => {
  emu.reset();
  path++;
  emu.setWebhooks({
    eventBridge: [{ url: `${base}/events/${path}`, secret: SECRET }],
    sns: [{ url: `${base}/sns/${path}` }],
  });
  marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
    dimensions: ["api_calls"],
    aws: { region: "us-east-1", endpoint: emu.endpoint, credentials },
    clock: () => emu.clock.now().getTime(),
    autoStart: false,
    buyers: {
      eventBridge: { secret: SECRET },
      sns: { trustedCertificateOrigins: [emu.endpoint], autoConfirm: true },
    },
  });
});

afterEach(async () => {
  await marketplace.close();
});

describe("marketplace: registration, lifecycle and access wired to metering", () => {
  it("register → link → meter; cancellation sends the open hour once; access is denied after the window", async () => {
    const sub = await emu.subscribe({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A2 });
    if (sub.kind !== "license") throw new Error("expected a license");
    const licenseArn = sub.license.licenseArn;
    await waitFor(
      () => marketplace.buyers.directory.findByLicense(licenseArn)?.status === "active",
      "License Updated",
    );

    const registration = await marketplace.register(form(emu.mintToken({ licenseArn })));
    expect(registration.identity).toEqual({
      productCode: DEMO.P_CA,
      customerAWSAccountId: DEMO.A2,
      licenseArn,
    });
    await marketplace.link(registration.id, "tenant-42");
    const decision = marketplace.access({ tenantId: "tenant-42" });
    if (!decision.allowed) throw new Error(`expected access, got ${decision.reason}`);

    marketplace.record({ identity: decision.identity, dimension: "api_calls", quantity: 4 });
    marketplace.record({ identity: decision.identity, dimension: "api_calls", quantity: 3 });
    emu.clock.advance(60_000);
    // Cancellation: EventBridge → marketplace.handleEventBridge → final metering inside the instance.
    await emu.unsubscribe({ licenseArn });
    await waitFor(() => emu.ledger().some((r) => r.licenseArn === licenseArn), "final metering");
    expect(emu.ledger().filter((r) => r.licenseArn === licenseArn)).toMatchObject([
      { quantity: 7, dimension: "api_calls" },
    ]);
    expect(marketplace.access({ tenantId: "tenant-42" })).toMatchObject({ allowed: true, finalWindow: true });

    emu.clock.advance(H + 60_000);
    expect(marketplace.access({ tenantId: "tenant-42" })).toMatchObject({
      allowed: false,
      reason: "cancelled",
    });
    // Usage after the final flush is carried forward, never a second record for the same grain.
    await marketplace.flush();
    expect(emu.duplicates()).toEqual([]);
  });

  it("usage made in the final window is billed: access ends just before AWS's window, and that usage is sent then", async () => {
    const registration = await marketplace.register(form(DEMO.T_OK));
    await marketplace.link(registration.id, "tenant-9");
    await emu.subscribe({ licenseArn: DEMO.L1 });
    await waitFor(() => marketplace.access({ tenantId: "tenant-9" }).allowed, "License Updated");
    const identity = registration.identity;
    const start = emu.clock.now().getTime(); // 10:30 in the demo fixtures
    const hour = (t: number) => new Date(Math.floor(t / H) * H).toISOString();

    marketplace.record({ identity, dimension: "api_calls", quantity: 5 });
    emu.clock.advance(60_000);
    await emu.unsubscribe({ licenseArn: DEMO.L1 }); // final window: until 11:31
    await waitFor(() => emu.ledger().length === 1, "first final flush");

    // Still inside the final window: access allowed, usage recorded (after the first final flush).
    emu.clock.advance(10 * 60_000); // 10:41
    expect(marketplace.access({ tenantId: "tenant-9" })).toMatchObject({ allowed: true, finalWindow: true });
    marketplace.record({ identity, dimension: "api_calls", quantity: 3 });
    emu.clock.set(new Date(start + 40 * 60_000)); // 11:10
    marketplace.record({ identity, dimension: "api_calls", quantity: 2 });
    await marketplace.checkpoint();

    // 11:27: 5 minutes before AWS closes the window, access ends and the last usage goes out.
    emu.clock.set(new Date(start + 57 * 60_000));
    expect(marketplace.access({ tenantId: "tenant-9" })).toMatchObject({
      allowed: false,
      reason: "cancelled",
    });
    await marketplace.flush();
    expect(
      emu
        .ledger()
        .filter((r) => r.licenseArn === DEMO.L1)
        .map((r) => [r.hour, r.quantity]),
    ).toEqual([
      [hour(start), 5],
      [hour(start + H), 5],
    ]);
    expect(emu.duplicates()).toEqual([]);
  });

  it("registration(id) returns the pending registration without the token hash", async () => {
    const registration = await marketplace.register(form(DEMO.T_OK));
    const found = await marketplace.registration(registration.id);
    expect(found).toMatchObject({ id: registration.id, identity: registration.identity });
    expect(found).not.toHaveProperty("tokenHash");
    expect(await marketplace.registration("no-such-registration")).toBeUndefined();
    emu.clock.advance(2 * H);
    expect(await marketplace.registration(registration.id)).toBeUndefined();
  });

  it("CustomerNotSubscribed from metering denies access without any notification", async () => {
    const registration = await marketplace.register(form(DEMO.T_OK));
    await marketplace.link(registration.id, "tenant-7");
    await emu.subscribe({ licenseArn: DEMO.L1 });
    await waitFor(() => marketplace.access({ tenantId: "tenant-7" }).allowed, "License Updated");
    emu.clock.advance(60_000);
    await emu.suspend({ licenseArn: DEMO.L1 });
    emu.clock.advance(60_000);
    const rejected: string[] = [];
    marketplace.on("rejected", (e) => rejected.push(e.code));
    marketplace.record({ identity: registration.identity, dimension: "api_calls", quantity: 1 });
    await marketplace.flush({ identity: registration.identity });
    expect(rejected).toEqual(["CUSTOMER_NOT_SUBSCRIBED"]);
    expect(marketplace.access({ tenantId: "tenant-7" })).toMatchObject({
      allowed: false,
      reason: "not-subscribed",
    });
  });

  it("rejects unknown buyer options at construction with a coded error", () => {
    expect(() =>
      createMarketplace({
        products: [{ productCode: DEMO.P_CA }],
        dimensions: ["api_calls"],
        aws: { region: "us-east-1", endpoint: emu.endpoint, credentials },
        buyers: { eventBridge: { secret: "short" } },
      }),
    ).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});
