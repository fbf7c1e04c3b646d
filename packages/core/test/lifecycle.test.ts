process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createSign } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../src/errors/index.js";
import type { Identity } from "../src/identity/index.js";
import { type Buyers, createBuyers } from "../src/lifecycle/index.js";
import { createMarketplace, type Marketplace } from "../src/marketplace/index.js";
import { type FetchLike, type SnsEnvelope, snsStringToSign } from "../src/sns/index.js";
import { makeSigner } from "../src/sns/self-signed.test-helper.js";
import { waitFor } from "./helpers.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const SECRET = "webhook-secret-0123456789";
const H = 3_600_000;

let emu: Emulator;
let metering: MarketplaceMeteringClient;
let entitlement: MarketplaceEntitlementServiceClient;
let server: Server;
let base: string;
let current: Buyers | undefined;
let path = 0;
/** Raw SNS bodies as delivered by the emulator, for replay and tampering. */
const snsBodies: Array<{ type: string; body: string }> = [];
const responses: Array<{ url: string; status: number; outcome?: string; code?: string }> = [];
const certFetches: string[] = [];

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
  // The seller's app: a plain Node server that hands requests to the framework-free handlers.
  server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const request = { method: req.method ?? "GET", headers: req.headers, body };
      const url = req.url ?? "/";
      if (url.startsWith("/sns"))
        snsBodies.push({ type: String(req.headers["x-amz-sns-message-type"]), body: body.toString() });
      try {
        if (!current) throw new Error("no buyers instance");
        const out = url.startsWith("/events")
          ? await current.handleEventBridge(request)
          : await current.handleSns(request);
        responses.push({ url, status: out.httpStatus, outcome: out.outcome });
        res
          .writeHead(out.httpStatus, { "content-type": "application/json" })
          .end(JSON.stringify({ outcome: out.outcome }));
      } catch (err) {
        const status = isMarketplaceError(err) ? Number(err.details?.httpStatus ?? 500) : 500;
        responses.push({ url, status, code: isMarketplaceError(err) ? err.code : "UNCODED" });
        res
          .writeHead(status, { "content-type": "application/json" })
          .end(JSON.stringify({ code: (err as { code?: string }).code }));
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

let flushes: Identity[] = [];
let marketplace: Marketplace<"api_calls">;
beforeEach(() => {
  emu.reset();
  path++;
  snsBodies.length = 0;
  responses.length = 0;
  certFetches.length = 0;
  flushes = [];
  // New paths per test: the emulator remembers which SNS endpoints confirmed their subscription.
  emu.setWebhooks({
    eventBridge: [{ url: `${base}/events/${path}`, secret: SECRET }],
    sns: [{ url: `${base}/sns/${path}`, requireConfirmation: true }],
  });
  const clock = () => emu.clock.now().getTime();
  marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
    dimensions: ["api_calls"],
    aws: { client: metering },
    clock,
    autoStart: false,
  });
  const countingFetch: FetchLike = (url, init) => {
    certFetches.push(url);
    return fetch(url, init) as ReturnType<FetchLike>;
  };
  current = createBuyers({
    products: [DEMO.P_CA, DEMO.P_L],
    meteringClient: metering,
    entitlementClient: entitlement,
    clock,
    finalMetering: async (identity) => {
      flushes.push(identity);
      await marketplace.flush({ identity });
    },
    sns: { trustedCertificateOrigins: [emu.endpoint], autoConfirm: true, fetch: countingFetch },
    eventBridge: { secret: SECRET },
  });
  marketplace.on("rejected", (e) => {
    if (e.code === "CUSTOMER_NOT_SUBSCRIBED") current?.noteNotSubscribed(e.grain.identity);
  });
});
afterEach(async () => {
  await current?.close();
  await marketplace.close();
});

const form = (token: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: `x-amzn-marketplace-token=${encodeURIComponent(token)}`,
});

async function postSns(body: string, type = "Notification") {
  const res = await fetch(`${base}/sns/${path}`, {
    method: "POST",
    headers: { "content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": type },
    body,
  });
  return { status: res.status, json: (await res.json()) as { outcome?: string; code?: string } };
}

describe("lifecycle driven by the emulator over HTTP", () => {
  it("Concurrent Agreements: subscribe → EventBridge → register/link → meter → cancel → final metering once → denied", async () => {
    const b = current as Buyers;
    const sub = await emu.subscribe({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A2 });
    if (sub.kind !== "license") throw new Error("expected a license");
    const licenseArn = sub.license.licenseArn;
    // The events arrived before the buyer came to the fulfillment URL: the record is already active.
    await waitFor(() => b.directory.findByLicense(licenseArn)?.status === "active", "License Updated");
    expect(responses.filter((r) => r.url.startsWith("/events")).map((r) => r.status)).toEqual([
      200, 200, 200,
    ]);

    const reg = await b.register(form(emu.mintToken({ licenseArn })));
    const customer = await b.link(reg.id, "tenant-ca");
    expect(customer).toMatchObject({
      status: "active",
      tenantId: "tenant-ca",
      agreementId: sub.license.agreementId,
    });
    const decision = b.access({ tenantId: "tenant-ca" });
    expect(decision).toMatchObject({ allowed: true, finalWindow: false });
    if (!decision.allowed) return;

    marketplace.record({ identity: decision.identity, dimension: "api_calls", quantity: 5 });
    emu.clock.advance(60_000);
    await emu.unsubscribe({ licenseArn });
    await waitFor(
      () => flushes.length > 0 && b.directory.findByLicense(licenseArn)?.finalMeteringAt !== undefined,
      "final metering",
    );
    // Agreement Ended (Proposer + Manufacturer) and License Deprovisioned: three events, one flush.
    expect(flushes).toEqual([decision.identity]);
    expect(
      emu
        .ledger()
        .filter((r) => r.licenseArn === licenseArn)
        .map((r) => r.quantity),
    ).toEqual([5]);
    expect(b.access({ tenantId: "tenant-ca" })).toMatchObject({ allowed: true, finalWindow: true });

    emu.clock.advance(H);
    expect(b.access({ tenantId: "tenant-ca" })).toMatchObject({
      allowed: false,
      reason: "cancelled",
      httpStatus: 402,
    });
    expect(flushes).toHaveLength(1);
  });

  it("legacy SNS: signed messages, auto-confirmed subscription, final metering once, replay/tamper/forgery refused", async () => {
    const b = current as Buyers;
    const reg = await b.register(form(DEMO.T_LEG));
    await b.link(reg.id, "tenant-leg");
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({ allowed: false, reason: "pending" });

    await emu.subscribe({ customerIdentifier: DEMO.C1 });
    // requireConfirmation holds the notification until our handler visited the SubscribeURL.
    await waitFor(() => b.access({ tenantId: "tenant-leg" }).allowed, "subscribe-success");
    expect(responses.find((r) => r.outcome === "confirmed")).toBeDefined();
    const identity = { productCode: DEMO.P_L, customerIdentifier: DEMO.C1 };
    marketplace.record({ identity, dimension: "api_calls", quantity: 3 });

    emu.clock.advance(60_000);
    await emu.unsubscribe({ customerIdentifier: DEMO.C1 });
    await waitFor(
      () => flushes.length === 1 && b.directory.getByIdentity(identity)?.finalMeteringAt !== undefined,
      "final metering",
    );
    expect(
      emu
        .ledger()
        .filter((r) => r.customerIdentifier === DEMO.C1)
        .map((r) => r.quantity),
    ).toEqual([3]);
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({ allowed: true, finalWindow: true });

    emu.clock.advance(H);
    await emu.settle();
    await waitFor(() => b.directory.getByIdentity(identity)?.status === "cancelled", "unsubscribe-success");
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({ allowed: false, reason: "cancelled" });
    expect(flushes).toHaveLength(1);

    const notifications = snsBodies.filter((s) => s.type === "Notification");
    const pending = notifications.find((s) => s.body.includes("unsubscribe-pending"));
    const success = notifications.find((s) => s.body.includes("unsubscribe-success"));
    if (!pending || !success) throw new Error("expected both notifications to be captured");

    // Replay of a recent message: same MessageId → ignored, nothing changes.
    expect(await postSns(success.body)).toEqual({ status: 200, json: { outcome: "duplicate" } });

    // Modified: the Message is changed after signing.
    const tampered = JSON.parse(success.body) as SnsEnvelope;
    tampered.Message = tampered.Message.replace("unsubscribe-success", "subscribe-success");
    tampered.MessageId = "tampered-1";
    expect(await postSns(JSON.stringify(tampered))).toMatchObject({
      status: 403,
      json: { code: "UNAUTHORIZED" },
    });

    // Forged: signed with another key, pointing at the emulator's real certificate.
    const forger = makeSigner();
    const forged: SnsEnvelope = {
      ...(JSON.parse(success.body) as SnsEnvelope),
      MessageId: "forged-1",
      SignatureVersion: "2",
    };
    forged.Message = forged.Message.replace("unsubscribe-success", "subscribe-success");
    forged.Signature = createSign("RSA-SHA256")
      .update(snsStringToSign(forged))
      .sign(forger.privateKey, "base64");
    expect(await postSns(JSON.stringify(forged))).toMatchObject({
      status: 403,
      json: { code: "UNAUTHORIZED" },
    });

    // Untrusted SigningCertURL: refused without any download.
    const fetchesBefore = certFetches.length;
    const evil = { ...forged, MessageId: "evil-1", SigningCertURL: "https://sns.attacker.example/cert.pem" };
    expect(await postSns(JSON.stringify(evil))).toMatchObject({
      status: 403,
      json: { code: "UNAUTHORIZED" },
    });
    expect(certFetches.length).toBe(fetchesBefore);
    // The one certificate was fetched once and cached.
    expect(new Set(certFetches).size).toBe(certFetches.length);

    // Too old: more than an hour later, the captured message is refused as a replay.
    emu.clock.advance(2 * H);
    expect(await postSns(pending.body)).toMatchObject({
      status: 400,
      json: { code: "INVALID_NOTIFICATION" },
    });
    expect(b.access({ tenantId: "tenant-leg" })).toMatchObject({ allowed: false, reason: "cancelled" });
  });

  it("webhook secret mismatch → 401 UNAUTHORIZED, and nothing changes", async () => {
    const event = {
      version: "0",
      id: "forged-event",
      "detail-type": "License Updated - Manufacturer",
      source: "aws.agreement-marketplace",
      time: emu.clock.now().toISOString(),
      detail: {
        product: { code: DEMO.P_CA },
        license: { arn: DEMO.L1 },
        acceptor: { accountId: DEMO.A1 },
        agreement: { id: "a" },
      },
    };
    for (const secret of ["wrong-secret-0123456789", undefined]) {
      const res = await fetch(`${base}/events/${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...(secret ? { "x-marketmeter-webhook-secret": secret } : {}),
        },
        body: JSON.stringify(event),
      });
      expect(res.status).toBe(401);
      expect(await res.json()).toEqual({ code: "UNAUTHORIZED" });
    }
    expect(current?.directory.size).toBe(0);
  });

  it("CustomerNotSubscribed from metering (a suspended license) denies access", async () => {
    const b = current as Buyers;
    const reg = await b.register(form(DEMO.T_OK));
    await b.link(reg.id, "tenant-1");
    await emu.subscribe({ licenseArn: DEMO.L1 });
    await waitFor(() => b.access({ tenantId: "tenant-1" }).allowed, "License Updated");
    emu.clock.advance(60_000);
    // A suspension only says "License Updated": the metering answer is what reveals it.
    await emu.suspend({ licenseArn: DEMO.L1 });
    emu.clock.advance(60_000);
    marketplace.record({ identity: reg.identity, dimension: "api_calls", quantity: 1 });
    await marketplace.flush({ identity: reg.identity });
    await waitFor(() => !b.access({ tenantId: "tenant-1" }).allowed, "not-subscribed");
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({
      allowed: false,
      reason: "not-subscribed",
      httpStatus: 402,
    });
  });
});
