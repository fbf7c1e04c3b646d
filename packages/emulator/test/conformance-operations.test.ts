import { createPublicKey, verify } from "node:crypto";
import {
  GetEntitlementsCommand,
  MarketplaceEntitlementServiceClient,
} from "@aws-sdk/client-marketplace-entitlement-service";
import {
  BatchMeterUsageCommand,
  CustomerNotEntitledException,
  DisabledApiException,
  DuplicateRequestException,
  ExpiredTokenException,
  IdempotencyConflictException,
  InternalServiceErrorException,
  InvalidEndpointRegionException,
  InvalidProductCodeException,
  InvalidPublicKeyVersionException,
  InvalidRegionException,
  InvalidTagException,
  InvalidTokenException,
  InvalidUsageAllocationsException,
  InvalidUsageDimensionException,
  MarketplaceMeteringClient,
  MeterUsageCommand,
  type MeterUsageCommandInput,
  PlatformNotSupportedException,
  RegisterUsageCommand,
  ResolveCustomerCommand,
  ThrottlingException,
  TimestampOutOfBoundsException,
  type UsageRecord,
} from "@aws-sdk/client-marketplace-metering";
import { ConfiguredRetryStrategy } from "@smithy/util-retry";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Emulator } from "../src/index.js";
import { defined } from "./defined.js";
import {
  at,
  BMU,
  bmu,
  ca,
  credentials,
  DEMO,
  epoch,
  H09,
  H10,
  member,
  metering,
  REGISTER,
  RESOLVE,
  raw,
  rejects,
  rejectsNamed,
  startTestEmulator,
  UUID,
} from "./helpers.js";

let emu: Emulator;
beforeEach(async () => {
  emu = await startTestEmulator();
});
afterEach(async () => {
  await emu.close();
});

const c = () => metering(emu);
const resource = (id: string, extra: Record<string, string> = {}, region = "us-east-1") =>
  metering(emu, region, { "x-emu-resource-id": id, ...extra });
const meter = (client: MarketplaceMeteringClient, input: Partial<MeterUsageCommandInput>) =>
  client.send(
    new MeterUsageCommand({
      ProductCode: DEMO.P_CA,
      Timestamp: H09,
      UsageDimension: "api_calls",
      UsageQuantity: 3,
      ...input,
    }),
  );
const register = (
  client: MarketplaceMeteringClient,
  input: Partial<{ ProductCode: string; PublicKeyVersion: number; Nonce: string }> = {},
) => client.send(new RegisterUsageCommand({ ProductCode: DEMO.P_CA, PublicKeyVersion: 1, ...input }));
const resolve = (client: MarketplaceMeteringClient, token: string) =>
  client.send(new ResolveCustomerCommand({ RegistrationToken: token }));

describe("Limits, throttling, injected faults", () => {
  it("limits.body-size: body of 1,048,576 bytes or more → ValidationException, nothing recorded; 1,048,575 bytes → 200", async () => {
    const base = JSON.stringify({
      UsageRecords: [
        {
          Timestamp: epoch(H09),
          CustomerAWSAccountId: DEMO.A1,
          LicenseArn: DEMO.L1,
          Dimension: "api_calls",
          Quantity: 1,
        },
      ],
    });
    const padded = (size: number) => base + " ".repeat(size - Buffer.byteLength(base));
    const tooBig = await raw(emu, BMU, padded(1_048_576));
    expect(tooBig.status).toBe(400);
    expect(member(tooBig.json, "__type")).toBe("ValidationException");
    expect(emu.ledger()).toEqual([]);
    const fits = await raw(emu, BMU, padded(1_048_575));
    expect(fits.status).toBe(200);
    expect(member(fits.json, "Results", 0, "Status")).toBe("Success");
    // 25 records × 2,500 tagged allocations, sent by the SDK.
    const records: UsageRecord[] = Array.from({ length: 25 }, (_, i) => ({
      ...ca(
        new Date(H10.getTime() - (i % 7) * 3600_000),
        i < 13 ? "api_calls" : "gb_stored",
        2500,
        i % 2 ? DEMO.L1 : DEMO.L2,
      ),
      UsageAllocations: Array.from({ length: 2500 }, (_, j) => ({
        AllocatedUsageQuantity: 1,
        Tags: [{ Key: "n", Value: String(j) }],
      })),
    }));
    await rejectsNamed(bmu(c(), records), "ValidationException");
    expect(emu.ledger()).toHaveLength(1);
  });

  it("limits.rate-per-second: the 11th BatchMeterUsage within a second → ThrottlingException; limits are per Region and per operation", async () => {
    // A controlled monotonic clock makes the token buckets exact: no refill unless we move it.
    let t = 0;
    await emu.close();
    emu = await startTestEmulator({ rateLimits: true, rateClock: () => t });
    const settle = (p: Promise<unknown>) =>
      p.then(
        () => "ok",
        (e) => e,
      );
    const hour = (i: number) => new Date(H10.getTime() - i * 3600_000);
    const us = metering(emu, "us-east-1");
    const outcomes: unknown[] = [];
    for (let i = 0; i < 11; i++) outcomes.push(await settle(bmu(us, [ca(hour(i), "api_calls", i + 1)])));
    expect(outcomes.slice(0, 10)).toEqual(Array(10).fill("ok"));
    expect(outcomes[10]).toBeInstanceOf(ThrottlingException);
    expect((outcomes[10] as ThrottlingException).$metadata.httpStatusCode).toBe(400);
    expect(emu.ledger()).toHaveLength(10);
    // Ten in eu-west-1 in the same instant are not throttled: the bucket is per Region.
    const eu = metering(emu, "eu-west-1");
    for (let i = 0; i < 10; i++) expect(await settle(bmu(eu, [ca(hour(i), "api_calls", 1)]))).toBe("ok");
    // A second later the us-east-1 bucket is full again.
    t += 1000;
    expect(await settle(bmu(us, [ca(hour(10), "api_calls", 11)]))).toBe("ok");

    const count = async (n: number, call: () => Promise<unknown>) => {
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(await settle(call()));
      return out.map((o) => (o === "ok" ? "ok" : (o as Error).name));
    };
    expect(await count(6, () => register(resource("t-1")))).toEqual([
      ...Array(5).fill("ok"),
      "ThrottlingException",
    ]);
    expect(await count(11, () => meter(resource("i-1"), {}))).toEqual([
      ...Array(10).fill("ok"),
      "ThrottlingException",
    ]);
    const ent = new MarketplaceEntitlementServiceClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      maxAttempts: 1,
    });
    expect(
      await count(21, () => ent.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER }))),
    ).toEqual([...Array(20).fill("ok"), "ThrottlingException"]);
    expect(await count(30, () => resolve(c(), DEMO.T_OK))).toEqual(Array(30).fill("ok"));
  });

  it("limits.rate-per-second: with real time, a burst of 11 parallel BatchMeterUsage calls is throttled and the throttled ones record nothing", async () => {
    await emu.close();
    emu = await startTestEmulator({ rateLimits: true });
    const outcomes = await Promise.all(
      Array.from({ length: 11 }, (_, i) =>
        bmu(metering(emu), [ca(new Date(H10.getTime() - i * 3600_000), "api_calls", i + 1)]).then(
          () => "ok",
          (e) => e,
        ),
      ),
    );
    const ok = outcomes.filter((o) => o === "ok").length;
    expect(outcomes.filter((o) => o !== "ok").every((o) => o instanceof ThrottlingException)).toBe(true);
    expect(emu.ledger()).toHaveLength(ok);
    expect(emu.rejected().length).toBe(11 - ok);
  });

  it("faults.unprocessed: unprocessed fault by predicate: matching records only in UnprocessedRecords, not recorded; a resend succeeds", async () => {
    emu.setFaults({ BatchMeterUsage: { unprocessed: { match: { dimension: "gb_stored" } } } });
    const out = await bmu(c(), [ca(H09, "api_calls", 1), ca(H09, "gb_stored", 2), ca(H10, "gb_stored", 3)]);
    expect(out.Results?.map((r) => r.UsageRecord?.Dimension)).toEqual(["api_calls"]);
    expect(out.UnprocessedRecords).toEqual([ca(H09, "gb_stored", 2), ca(H10, "gb_stored", 3)]);
    const r = await raw(emu, BMU, {
      UsageRecords: [
        {
          Timestamp: epoch(H09),
          CustomerAWSAccountId: DEMO.A1,
          LicenseArn: DEMO.L1,
          Dimension: "gb_stored",
          Quantity: 2,
        },
      ],
    });
    expect(member(r.json, "UnprocessedRecords", 0)).toEqual({
      Timestamp: epoch(H09),
      CustomerAWSAccountId: DEMO.A1,
      LicenseArn: DEMO.L1,
      Dimension: "gb_stored",
      Quantity: 2,
    });
    expect(member(r.json, "UnprocessedRecords", 0)).not.toHaveProperty("Status");
    expect(emu.ledger({ dimension: "gb_stored" })).toEqual([]);
    emu.setFaults({});
    const again = await bmu(c(), out.UnprocessedRecords ?? []);
    expect(again.Results?.map((x) => x.Status)).toEqual(["Success", "Success"]);
  });

  it("faults.internal-error: internalError fault → HTTP 500 InternalServiceErrorException; the SDK retries it (3 attempts)", async () => {
    emu.setFaults({ BatchMeterUsage: { internalError: { next: 3 } } });
    const retrying = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      retryStrategy: new ConfiguredRetryStrategy(3, 0),
    });
    const r = await rejects(bmu(retrying, [ca(H09, "api_calls", 1)]), InternalServiceErrorException);
    expect(r.$fault).toBe("server");
    expect(r.$metadata).toMatchObject({ httpStatusCode: 500, attempts: 3 });
    expect(emu.calls().map((x) => x.status)).toEqual([500, 500, 500]);
    emu.setFaults({ BatchMeterUsage: { internalError: { next: 1 } } });
    const ok = await bmu(retrying, [ca(H09, "api_calls", 1)]);
    expect(ok.$metadata.attempts).toBe(2);
    expect(emu.ledger()).toHaveLength(1);
  });

  it("faults.throttle-retries: the SDK retries ThrottlingException; each attempt is a separate request", async () => {
    emu.setFaults({ BatchMeterUsage: { throttle: { next: 2 } } });
    const retrying = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      retryStrategy: new ConfiguredRetryStrategy(3, 0),
    });
    const out = await bmu(retrying, [ca(H09, "api_calls", 1)]);
    expect(out.$metadata.attempts).toBe(3);
    const calls = emu.calls();
    expect(calls.map((x) => [x.status, x.errorType, x.attempt])).toEqual([
      [400, "ThrottlingException", 1],
      [400, "ThrottlingException", 2],
      [200, undefined, 3],
    ]);
    expect(new Set(calls.map((x) => x.invocationId)).size).toBe(1);
    expect(emu.rejected().map((x) => x.errorType)).toEqual(["ThrottlingException", "ThrottlingException"]);
  });
});

describe("Region availability", () => {
  it("regions.listed: eu-west-1 is served for BatchMeterUsage and ResolveCustomer", async () => {
    const eu = metering(emu, "eu-west-1");
    expect((await bmu(eu, [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
    expect((await resolve(eu, DEMO.T_OK)).CustomerAWSAccountId).toBe(DEMO.A1);
  });

  it("regions.unlisted: a Region outside the list → DisabledApiException", async () => {
    const mx = metering(emu, "mx-central-1");
    await rejects(bmu(mx, [ca(H09, "api_calls", 1)]), DisabledApiException);
    await rejects(resolve(mx, DEMO.T_OK), DisabledApiException);
    expect(emu.ledger()).toEqual([]);
  });

  it("regions.china: cn-northwest-1 is supported", async () => {
    const cn = metering(emu, "cn-northwest-1");
    expect((await bmu(cn, [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger()[0]?.region).toBe("cn-northwest-1");
    expect((await resolve(cn, DEMO.T_OK)).LicenseArn).toBe(DEMO.L1);
  });
});

describe("MeterUsage", () => {
  it("meter-usage.success: valid MeterUsage → 200 with a MeteringRecordId", async () => {
    const out = await meter(resource("i-1"), {});
    expect(out.MeteringRecordId).toMatch(UUID);
    expect(emu.ledger({ operation: "MeterUsage" })[0]).toMatchObject({
      resourceId: "i-1",
      quantity: 3,
      customerAWSAccountId: DEMO.A1,
    });
  });

  it("meter-usage.same-hour-same-id: same resource/dimension/hour and quantity (09:10, 09:50) → the same MeteringRecordId", async () => {
    const a = await meter(resource("i-1"), { Timestamp: at("09:10:00") });
    const b = await meter(resource("i-1"), { Timestamp: at("09:50:00") });
    expect(b.MeteringRecordId).toBe(a.MeteringRecordId);
    expect(emu.ledger()).toHaveLength(1);
  });

  it("meter-usage.other-quantity: same resource/dimension/hour, different quantity → DuplicateRequestException", async () => {
    await meter(resource("i-1"), {});
    await rejects(meter(resource("i-1"), { UsageQuantity: 4 }), DuplicateRequestException);
    expect(emu.duplicates()[0]).toMatchObject({ billedQuantity: 3, attemptedQuantity: 4 });
  });

  it("meter-usage.per-resource: another resource, same dimension/hour → independent", async () => {
    const a = await meter(resource("i-1"), {});
    const b = await meter(resource("i-2"), { UsageQuantity: 9 });
    expect(b.MeteringRecordId).not.toBe(a.MeteringRecordId);
    expect(emu.ledger().map((r) => r.quantity)).toEqual([3, 9]);
  });

  it("meter-usage.six-hour-window: 6 h + 1 s old → TimestampOutOfBoundsException; 5 h 59 m old → Success", async () => {
    await rejects(meter(resource("i-1"), { Timestamp: at("04:29:59") }), TimestampOutOfBoundsException);
    expect((await meter(resource("i-1"), { Timestamp: at("04:31:00") })).MeteringRecordId).toMatch(UUID);
  });

  it("meter-usage.modeled-errors: unknown dimension, unknown product, not entitled, bad tags, unbalanced allocations → modeled exceptions", async () => {
    await rejects(meter(resource("i-1"), { UsageDimension: "API_CALLS" }), InvalidUsageDimensionException);
    await rejects(
      meter(resource("i-1"), { ProductCode: "zzzz1234567890abcdefghijk" }),
      InvalidProductCodeException,
    );
    await rejects(meter(resource("i-1", { "x-emu-account-id": DEMO.A3 }), {}), CustomerNotEntitledException);
    const six = Array.from({ length: 6 }, (_, i) => ({ Key: `k${i}`, Value: "v" }));
    await rejects(
      meter(resource("i-1"), { UsageAllocations: [{ AllocatedUsageQuantity: 3, Tags: six }] }),
      InvalidTagException,
    );
    await rejects(
      meter(resource("i-1"), { UsageAllocations: [{ AllocatedUsageQuantity: 2 }] }),
      InvalidUsageAllocationsException,
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("meter-usage.endpoint-region: resource in another Region than the endpoint → InvalidEndpointRegionException", async () => {
    await rejects(
      meter(resource("i-1", { "x-emu-resource-region": "eu-west-1" }), {}),
      InvalidEndpointRegionException,
    );
    expect(
      (await meter(resource("i-1", { "x-emu-resource-region": "eu-west-1" }, "eu-west-1"), {}))
        .MeteringRecordId,
    ).toMatch(UUID);
  });

  it("meter-usage.quantity-default-zero: UsageQuantity omitted → recorded as 0", async () => {
    await resource("i-1").send(
      new MeterUsageCommand({ ProductCode: DEMO.P_CA, Timestamp: H09, UsageDimension: "api_calls" }),
    );
    expect(emu.ledger()[0]?.quantity).toBe(0);
  });

  it("meter-usage.dry-run: DryRun → 412 DryRunOperation; without permission → 403 UnauthorizedException; nothing recorded", async () => {
    await rejectsNamed(meter(resource("i-1"), { DryRun: true }), "DryRunOperation", 412);
    await rejectsNamed(
      meter(resource("i-1", { "x-emu-dry-run-permitted": "false" }), { DryRun: true }),
      "UnauthorizedException",
      403,
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("meter-usage.agentcore-client-tokens: AgentCore: different ClientTokens in one hour → distinct records that add up", async () => {
    const agent = resource("rt-1", { "x-emu-platform": "agentcore" });
    const a = await meter(agent, { ClientToken: "ct-1", UsageQuantity: 2 });
    const b = await meter(agent, { ClientToken: "ct-2", UsageQuantity: 5 });
    expect(a.MeteringRecordId).not.toBe(b.MeteringRecordId);
    expect(emu.ledger({ hour: H09 }).reduce((s, r) => s + r.quantity, 0)).toBe(7);
    // The SDK fills ClientToken itself when it is not given.
    const auto = await meter(agent, { UsageQuantity: 1 });
    expect(auto.MeteringRecordId).toMatch(UUID);
  });

  it("meter-usage.agentcore-idempotency: AgentCore: same ClientToken and parameters → same id; other parameters → 409 IdempotencyConflictException", async () => {
    const agent = resource("rt-1", { "x-emu-platform": "agentcore" });
    const a = await meter(agent, { ClientToken: "ct-1" });
    const b = await meter(agent, { ClientToken: "ct-1" });
    expect(b.MeteringRecordId).toBe(a.MeteringRecordId);
    const e = await rejects(
      meter(agent, { ClientToken: "ct-1", UsageQuantity: 9 }),
      IdempotencyConflictException,
    );
    expect(e.$metadata.httpStatusCode).toBe(409);
  });

  it('meter-usage.client-token-length: ClientToken of 65 characters or "" → ValidationException', async () => {
    await rejectsNamed(meter(resource("i-1"), { ClientToken: "x".repeat(65) }), "ValidationException");
    await rejectsNamed(meter(resource("i-1"), { ClientToken: "" }), "ValidationException");
  });
});

const decodeJwt = (jwt: string) => {
  const [h, p, s] = jwt.split(".");
  return {
    header: JSON.parse(Buffer.from(defined(h), "base64url").toString()),
    payload: JSON.parse(Buffer.from(defined(p), "base64url").toString()),
    data: `${h}.${p}`,
    signature: Buffer.from(defined(s), "base64url"),
  };
};

describe("RegisterUsage", () => {
  it("register-usage.success: valid call → a JWT Signature (verifiable with the emulator key), no PublicKeyRotationTimestamp", async () => {
    const out = await register(resource("task-1"));
    expect(out.PublicKeyRotationTimestamp).toBeUndefined();
    const jwt = decodeJwt(defined(out.Signature));
    expect(jwt.header).toMatchObject({ alg: "RS256", typ: "JWT" });
    expect(jwt.payload).toMatchObject({
      productCode: DEMO.P_CA,
      publicKeyVersion: 1,
      customerAWSAccountId: DEMO.A1,
    });
    const pem = await (await fetch(`${emu.endpoint}/_emulator/keys/register-usage.pem`)).text();
    expect(verify("sha256", Buffer.from(jwt.data), createPublicKey(pem), jwt.signature)).toBe(true);
    expect(verify("sha256", Buffer.from(`${jwt.data}x`), createPublicKey(pem), jwt.signature)).toBe(false);
    const r = await raw(emu, REGISTER, { ProductCode: DEMO.P_CA, PublicKeyVersion: 1 });
    expect(Object.keys(r.json as object)).toEqual(["Signature"]);
  });

  it("register-usage.key-version: PublicKeyVersion 0 → ValidationException; unsupported version → InvalidPublicKeyVersionException", async () => {
    await rejectsNamed(register(resource("task-1"), { PublicKeyVersion: 0 }), "ValidationException");
    await rejects(register(resource("task-1"), { PublicKeyVersion: 99 }), InvalidPublicKeyVersionException);
  });

  it("register-usage.expired-key: expired key version → 200 with PublicKeyRotationTimestamp as an epoch number", async () => {
    emu.setProfile({ expiredPublicKeyVersions: { "2": "2026-06-01T00:00:00Z" } });
    const out = await register(resource("task-1"), { PublicKeyVersion: 2 });
    expect(out.PublicKeyRotationTimestamp).toEqual(new Date("2026-06-01T00:00:00Z"));
    const r = await raw(
      emu,
      REGISTER,
      { ProductCode: DEMO.P_CA, PublicKeyVersion: 2 },
      { headers: { "x-emu-resource-id": "task-1" } },
    );
    expect(member(r.json, "PublicKeyRotationTimestamp")).toBe(epoch(new Date("2026-06-01T00:00:00Z")));
  });

  it("register-usage.first-call-entitlement: not entitled on a task's first call → CustomerNotEntitledException; after a successful first call, later calls pass even unsubscribed", async () => {
    await rejects(
      register(resource("task-a3", { "x-emu-account-id": DEMO.A3 })),
      CustomerNotEntitledException,
    );
    const lic = "arn:aws:license-manager::294406891311:license:l-6123456789abcdef0123456789abcdef";
    emu.addLicense({ licenseArn: lic, customerAWSAccountId: DEMO.A3, productCode: DEMO.P_CA });
    const task = resource("task-a3", { "x-emu-account-id": DEMO.A3 });
    expect((await register(task)).Signature).toBeTruthy();
    await emu.suspend({ customerAWSAccountId: DEMO.A3 });
    expect((await register(task)).Signature).toBeTruthy();
    await rejects(
      register(resource("task-new", { "x-emu-account-id": DEMO.A3 })),
      CustomerNotEntitledException,
    );
  });

  it("register-usage.platform: non-container platform on the first call → PlatformNotSupportedException", async () => {
    await rejects(register(resource("i-ec2", { "x-emu-platform": "ec2" })), PlatformNotSupportedException);
  });

  it("register-usage.region: called in another Region than the task's → InvalidRegionException", async () => {
    await rejects(
      register(resource("task-1", { "x-emu-resource-region": "eu-west-1" })),
      InvalidRegionException,
    );
  });

  it("register-usage.nonce: Nonce longer than 255 → ValidationException; the Nonce is echoed in the JWT", async () => {
    await rejectsNamed(register(resource("task-1"), { Nonce: "n".repeat(256) }), "ValidationException");
    const out = await register(resource("task-1"), { Nonce: "nonce-123" });
    expect(decodeJwt(defined(out.Signature)).payload.nonce).toBe("nonce-123");
  });
});

describe("ResolveCustomer", () => {
  it("resolve-customer.ca-token: CA token → account, license and product, with no CustomerIdentifier key", async () => {
    const out = await resolve(c(), DEMO.T_OK);
    expect(out).toMatchObject({ CustomerAWSAccountId: DEMO.A1, LicenseArn: DEMO.L1, ProductCode: DEMO.P_CA });
    expect(out.CustomerIdentifier).toBeUndefined();
    const r = await raw(emu, RESOLVE, { RegistrationToken: DEMO.T_OK });
    expect(r.json).toEqual({ CustomerAWSAccountId: DEMO.A1, LicenseArn: DEMO.L1, ProductCode: DEMO.P_CA });
  });

  it("resolve-customer.legacy-token: legacy token → CustomerIdentifier, CustomerAWSAccountId, ProductCode and LicenseArn", async () => {
    const out = await resolve(c(), DEMO.T_LEG);
    expect(out).toMatchObject({
      CustomerIdentifier: DEMO.C1,
      CustomerAWSAccountId: DEMO.A3,
      ProductCode: DEMO.P_L,
    });
    expect(out.LicenseArn).toMatch(/^arn:aws:license-manager::/);
  });

  it("resolve-customer.reusable: a token resolves to identical bodies until it expires", async () => {
    emu.clock.set("2026-07-15T09:05:00Z", { freeze: true });
    const a = await raw(emu, RESOLVE, { RegistrationToken: DEMO.T_OK });
    emu.clock.set(DEMO.now, { freeze: true });
    const b = await raw(emu, RESOLVE, { RegistrationToken: DEMO.T_OK });
    expect(a.status).toBe(200);
    expect(b.text).toBe(a.text);
  });

  it("resolve-customer.expiry: token 4 h 0 m 1 s old → ExpiredTokenException; 3 h 59 m old → 200", async () => {
    await rejects(resolve(c(), DEMO.T_OLD), ExpiredTokenException);
    const fresh = emu.mintToken({ licenseArn: DEMO.L1, issuedAt: at("06:31:00") });
    expect((await resolve(c(), fresh)).LicenseArn).toBe(DEMO.L1);
  });

  it('resolve-customer.garbage-token: garbage token "abc" → InvalidTokenException', async () => {
    await rejects(resolve(c(), "abc"), InvalidTokenException);
  });

  it('resolve-customer.token-required: RegistrationToken "" or missing → ValidationException', async () => {
    await rejectsNamed(resolve(c(), ""), "ValidationException");
    const r = await raw(emu, RESOLVE, {});
    expect(member(r.json, "__type")).toBe("ValidationException");
  });

  it("resolve-customer.other-seller: token of another seller's product → InvalidTokenException", async () => {
    await rejects(resolve(c(), DEMO.T_FOREIGN), InvalidTokenException);
  });

  it("resolve-customer.pending-agreement: a token of a not-yet-active agreement resolves; metering waits for activation", async () => {
    const out = await resolve(c(), DEMO.T_L3);
    expect(out).toMatchObject({ CustomerAWSAccountId: DEMO.A2, LicenseArn: DEMO.L3 });
    expect((await bmu(c(), [ca(H10, "api_calls", 1, DEMO.L3, DEMO.A2)])).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
    await emu.subscribe({ licenseArn: DEMO.L3 });
    expect((await bmu(c(), [ca(H10, "api_calls", 1, DEMO.L3, DEMO.A2)])).Results?.[0]?.Status).toBe(
      "Success",
    );
  });

  it("resolve-customer.token-bytes: tokens with + / = are matched byte for byte", async () => {
    const token = emu.mintToken({ licenseArn: DEMO.L1, token: "ab+cd/ef==" });
    expect((await resolve(c(), token)).LicenseArn).toBe(DEMO.L1);
    await rejects(resolve(c(), "ab cd/ef=="), InvalidTokenException);
    const minted = emu.mintToken({ licenseArn: DEMO.L2 });
    expect((await resolve(c(), minted)).LicenseArn).toBe(DEMO.L2);
  });
});

describe("BatchMeterUsage command shape sanity", () => {
  it("the SDK's BatchMeterUsageCommand with ProductCode reaches legacy mode", async () => {
    const out = await c().send(
      new BatchMeterUsageCommand({
        ProductCode: DEMO.P_L,
        UsageRecords: [{ Timestamp: H09, CustomerIdentifier: DEMO.C1, Dimension: "api_calls", Quantity: 2 }],
      }),
    );
    expect(out.Results?.[0]?.Status).toBe("Success");
  });
});
