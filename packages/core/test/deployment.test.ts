// Container, AMI and AgentCore deployments against the emulator over HTTP, with the real SDK client, for
// every platform the emulator models.
import { MarketplaceMeteringClient, MeterUsageCommand } from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGuard, createMeter, declareHttpSettings } from "../src/http.js";
import {
  createDeployment,
  type DeploymentOptions,
  type EmulatedPlatform,
  type Logger,
} from "../src/index.js";
import { droppingProxy, durable } from "./deployment-helpers.js";
import { credentials, DEMO, HOUR, type TestBed, testBed } from "./helpers.js";

const DIMS = ["api_calls", "gb_stored"] as const;
const PLATFORMS: Array<{ platform: EmulatedPlatform; mode: "container" | "ami" | "agentcore" }> = [
  { platform: "ec2", mode: "ami" },
  { platform: "ecs", mode: "container" },
  { platform: "eks", mode: "container" },
  { platform: "fargate", mode: "container" },
  { platform: "agentcore", mode: "agentcore" },
];
const OTHER_ACCOUNT = "999999999999";

function capture(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (_o: unknown, msg?: string) => {
    lines.push(String(msg));
  };
  return { lines, debug: log, info: log, warn: log, error: log };
}

let bed: TestBed;
beforeEach(async () => {
  bed = await testBed();
});
afterEach(async () => {
  await bed.close();
});

function options(
  p: (typeof PLATFORMS)[number],
  extra: Partial<DeploymentOptions<typeof DIMS>> = {},
): DeploymentOptions<typeof DIMS> {
  return {
    mode: p.mode,
    productCode: DEMO.P_CA,
    deploymentId: `${p.platform}-resource-1`,
    dimensions: DIMS,
    aws: { region: "us-east-1", endpoint: bed.emu.endpoint, credentials },
    clock: () => bed.now(),
    autoStart: false,
    retry: { baseDelayMs: 10, maxDelayMs: 1000 },
    emulator: { platform: p.platform },
    // The emulator's key, from its control API.
    publicKey: () => fetch(`${bed.emu.endpoint}/_emulator/keys/register-usage.pem`).then((r) => r.text()),
    ...extra,
  };
}

/** Bills the current hour of `resourceId` with `quantity`, as another process on that resource would. */
async function billOtherQuantity(resourceId: string, platform: EmulatedPlatform, quantity: number) {
  const client = new MarketplaceMeteringClient({
    region: "us-east-1",
    endpoint: bed.emu.endpoint,
    credentials,
  });
  client.middlewareStack.add(
    (next) => async (args) => {
      Object.assign((args.request as { headers: Record<string, string> }).headers, {
        "x-emu-platform": platform,
        "x-emu-resource-id": resourceId,
      });
      return next(args);
    },
    { step: "build", name: "caller" },
  );
  const hour = new Date(Math.floor(bed.now() / HOUR) * HOUR);
  await client.send(
    new MeterUsageCommand({
      ProductCode: DEMO.P_CA,
      Timestamp: hour,
      UsageDimension: "api_calls",
      UsageQuantity: quantity,
    }),
  );
  client.destroy();
}

const meterCalls = () => bed.emu.calls().filter((c) => c.operation === "MeterUsage");
const billed = () => bed.emu.ledger({ operation: "MeterUsage" });

describe.each(PLATFORMS)("$platform ($mode)", (p) => {
  it("happy path: starts, and bills one record per dimension for the hour once it is final", async () => {
    const m = await createDeployment(options(p));
    if (p.mode === "container") {
      expect(m.deployment.registration?.verified).toBe(true);
      expect(m.deployment.registration?.claims?.productCode).toBe(DEMO.P_CA);
    } else expect(m.deployment.registration).toBeUndefined();
    expect(m.access({ tenantId: "anyone" }).allowed).toBe(true);
    const identity = m.deployment.identity;
    m.record({ identity, dimension: "api_calls", quantity: 3 });
    m.record({ identity, dimension: "api_calls", quantity: 4 });
    m.record({ identity, dimension: "gb_stored", quantity: 1 });
    await m.flush();
    expect(billed()).toHaveLength(0); // the hour is not over: reporting early would block the rest of it
    bed.advance(HOUR);
    await m.flush();
    const ledger = billed();
    expect(ledger.map((r) => [r.dimension, r.quantity, r.resourceId]).sort()).toEqual([
      ["api_calls", 7, `${p.platform}-resource-1`],
      ["gb_stored", 1, `${p.platform}-resource-1`],
    ]);
    const report = await m.report();
    expect(report.map((g) => g.state)).toEqual(["sent", "sent"]);
    expect(report.map((g) => g.meteringRecordId).sort()).toEqual(
      ledger.map((r) => r.meteringRecordId).sort(),
    );
    await m.close();
  });

  it("not entitled: refused at start (containers), or access denied once AWS says so", async () => {
    const emulator = { platform: p.platform, accountId: OTHER_ACCOUNT };
    if (p.mode === "container") {
      await expect(createDeployment(options(p, { emulator }))).rejects.toMatchObject({
        code: "NOT_ENTITLED",
        message: expect.stringContaining("subscribe to it in AWS Marketplace"),
      });
      const m = await createDeployment(options(p, { emulator, onNotEntitled: "deny-access" }));
      expect(m.deployment.entitled).toBe(false);
      expect(m.access({ tenantId: "x" })).toMatchObject({ allowed: false, httpStatus: 402 });
      await m.close();
      return;
    }
    const m = await createDeployment(options(p, { emulator }));
    const rejected: string[] = [];
    m.on("rejected", (e) => rejected.push(e.code));
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    expect(rejected).toEqual(["CUSTOMER_NOT_SUBSCRIBED"]);
    expect(m.access({ tenantId: "x" })).toMatchObject({ allowed: false, reason: "not-subscribed" });
    expect(billed()).toHaveLength(0);
    await m.close();
  });

  it("wrong Region: a start-up error (containers) or usage kept and retried, never dropped", async () => {
    const emulator = { platform: p.platform, resourceRegion: "eu-west-1" };
    if (p.mode === "container") {
      await expect(createDeployment(options(p, { emulator }))).rejects.toMatchObject({
        code: "WRONG_REGION",
        message: expect.stringContaining("AWS_REGION"),
      });
      return;
    }
    const m = await createDeployment(options(p, { emulator }));
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 2 });
    bed.advance(HOUR);
    await m.flush();
    const [g] = await m.report();
    expect(g).toMatchObject({ state: "retrying", quantity: 2 });
    expect(g?.lastError).toContain("AWS_REGION");
    expect(billed()).toHaveLength(0);
    await m.close();
  });

  it("a restart mid-hour: still one record for the hour, with both halves", async () => {
    const store = durable();
    const first = await createDeployment(options(p, { store }));
    first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 5 });
    await first.close();
    expect(billed()).toHaveLength(0);
    bed.advance(10 * 60_000);
    const second = await createDeployment(options(p, { store }));
    second.record({ identity: second.deployment.identity, dimension: "api_calls", quantity: 6 });
    bed.advance(HOUR);
    await second.flush();
    expect(billed().map((r) => [r.dimension, r.quantity])).toEqual([["api_calls", 11]]);
    await second.close();
  });

  it("killed after AWS accepted the call but before the answer came: the resend is the same record", async () => {
    const store = durable();
    const proxy = await droppingProxy(bed.emu.endpoint, 1);
    try {
      const aws = { region: "us-east-1", endpoint: proxy.endpoint, credentials };
      const first = await createDeployment(options(p, { store, aws }));
      first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 9 });
      bed.advance(HOUR);
      await first.flush();
      expect(proxy.dropped()).toBe(1);
      expect(billed()).toHaveLength(1); // AWS has it; we do not know
      const [lost] = await first.report();
      expect(lost).toMatchObject({ state: "retrying", uncertain: true });
      await first.close(); // killed
      bed.advance(5_000);
      const second = await createDeployment(options(p, { store }));
      await second.flush();
      const [g] = await second.report();
      const ledger = billed();
      expect(ledger).toHaveLength(1);
      expect(g).toMatchObject({ state: "sent", meteringRecordId: ledger[0]?.meteringRecordId });
      expect(meterCalls().filter((c) => c.status === 200)).toHaveLength(2);
      await second.close();
    } finally {
      await proxy.close();
    }
  });

  it("throttling: start-up and sending retry, and the hour is billed once", async () => {
    bed.emu.setFaults({ RegisterUsage: { throttle: { next: 2 } }, MeterUsage: { throttle: { next: 2 } } });
    const m = await createDeployment(options(p));
    if (p.mode === "container") expect(m.deployment.registration?.attempts).toBe(3);
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    for (let i = 0; i < 5 && billed().length === 0; i++) {
      await m.flush();
      bed.advance(2_000);
    }
    expect(billed().map((r) => r.quantity)).toEqual([1]);
    expect(meterCalls().filter((c) => c.errorType === "ThrottlingException").length).toBeGreaterThan(0);
    await m.close();
  });
});

describe("container start-up", () => {
  const ecs = PLATFORMS[1] as (typeof PLATFORMS)[number];

  it("an expired key version starts, with a warning saying what to do", async () => {
    bed.emu.setProfile({ publicKeyVersions: [2], expiredPublicKeyVersions: { "1": "2026-07-01T00:00:00Z" } });
    const logger = capture();
    const m = await createDeployment(options(ecs, { logger }));
    expect(m.deployment.registration?.keyRotationAt?.toISOString()).toBe("2026-07-01T00:00:00.000Z");
    expect(logger.lines.some((l) => l.includes("set deployment.publicKeyVersion"))).toBe(true);
    await m.close();
  });

  it("an unknown key version, EC2, or a signature from another key: clear start-up errors", async () => {
    await expect(createDeployment(options(ecs, { publicKeyVersion: 99 }))).rejects.toMatchObject({
      code: "INVALID_KEY_VERSION",
    });
    await expect(
      createDeployment(options(ecs, { emulator: { platform: "ec2" }, deploymentId: "i-ec2" })),
    ).rejects.toMatchObject({ code: "PLATFORM_NOT_SUPPORTED" });
    const { generateKeyPairSync } = await import("node:crypto");
    const other = generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey;
    await expect(createDeployment(options(ecs, { publicKey: other }))).rejects.toMatchObject({
      code: "INVALID_SIGNATURE",
    });
  });

  it("refuses to start when the role may not call MeterUsage (DryRun)", async () => {
    const client = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: bed.emu.endpoint,
      credentials,
      maxAttempts: 1,
    });
    client.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { headers: Record<string, string> }).headers["x-emu-dry-run-permitted"] = "false";
        return next(args);
      },
      { step: "build", name: "noPermission" },
    );
    await expect(createDeployment(options(PLATFORMS[0] as never, { aws: { client } }))).rejects.toMatchObject(
      {
        code: "UNAUTHORIZED",
        message: expect.stringContaining("aws-marketplace:MeterUsage"),
      },
    );
    client.destroy();
  });
});

describe("MeterUsage answers", () => {
  it("DuplicateRequestException: that hour was billed with another quantity; reported, never retried", async () => {
    const ec2 = PLATFORMS[0] as (typeof PLATFORMS)[number];
    const m = await createDeployment(options(ec2));
    // Another process on the same instance already reported the hour.
    await billOtherQuantity(m.deployment.deploymentId, "ec2", 1);
    const duplicates: number[] = [];
    m.on("duplicate", (e) => duplicates.push(e.quantity));
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 4 });
    bed.advance(HOUR);
    await m.flush();
    bed.advance(HOUR);
    await m.flush();
    expect(duplicates).toEqual([4]);
    expect(meterCalls().filter((c) => c.errorType === "DuplicateRequestException")).toHaveLength(1);
    expect((await m.report())[0]).toMatchObject({ state: "rejected", reason: "DuplicateRecord" });
    await m.close();
  });

  it("a lost answer, then DuplicateRequestException: another quantity was billed, not ours", async () => {
    const ec2 = PLATFORMS[0] as (typeof PLATFORMS)[number];
    const proxy = await droppingProxy(bed.emu.endpoint, 1);
    try {
      const aws = { region: "us-east-1", endpoint: proxy.endpoint, credentials };
      const m = await createDeployment(options(ec2, { aws }));
      await billOtherQuantity(m.deployment.deploymentId, "ec2", 1);
      const duplicates: boolean[] = [];
      m.on("duplicate", (e) => duplicates.push(e.ownEarlierWrite));
      m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 4 });
      bed.advance(HOUR);
      await m.flush(); // refused, but the answer is lost: uncertain
      expect(proxy.dropped()).toBe(1);
      bed.advance(5_000);
      await m.flush();
      expect(duplicates).toEqual([false]);
      expect((await m.report())[0]).toMatchObject({ state: "rejected", reason: "DuplicateRecord" });
      expect(billed().map((r) => r.quantity)).toEqual([1]);
      await m.close();
    } finally {
      await proxy.close();
    }
  });

  it("AgentCore: one record per client token, and the tokens are derived from the hour", async () => {
    const agent = PLATFORMS[4] as (typeof PLATFORMS)[number];
    const m = await createDeployment(options(agent));
    for (let h = 0; h < 3; h++) {
      m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: h + 1 });
      bed.advance(HOUR);
      await m.flush();
    }
    const tokens = [...bed.emu.state.clientTokens.keys()];
    expect(tokens).toHaveLength(3);
    expect(new Set(tokens).size).toBe(3);
    expect(billed().map((r) => r.quantity)).toEqual([1, 2, 3]);
    await m.close();
  });

  it("the 6-hour window: an hour MeterUsage can no longer take is expired, not sent", async () => {
    const ec2 = PLATFORMS[0] as (typeof PLATFORMS)[number];
    const store = durable();
    const first = await createDeployment(options(ec2, { store }));
    first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 1 });
    await first.close();
    bed.advance(7 * HOUR);
    const second = await createDeployment(options(ec2, { store }));
    const expired: number[] = [];
    second.on("expired", (e) => expired.push(e.grain.quantity));
    await second.flush();
    expect(expired).toEqual([1]);
    // Expired by our own window guard: no call is made for it.
    expect(meterCalls().filter((c) => c.errorType !== "DryRunOperation")).toHaveLength(0);
    await second.close();
  });
});

describe("configuration", () => {
  it("refuses bad options with INVALID_CONFIG before any call", async () => {
    const ec2 = PLATFORMS[0] as (typeof PLATFORMS)[number];
    for (const bad of [
      { mode: "saas" },
      { deploymentId: "" },
      { deploymentId: "has space" },
      { publicKeyVersion: 0 },
      { onNotEntitled: "ignore" },
      { register: true },
      { emulator: { platform: "lambda" } },
    ])
      await expect(createDeployment(options(ec2, bad as never))).rejects.toMatchObject({
        code: "INVALID_CONFIG",
      });
    expect(bed.emu.calls()).toHaveLength(0);
  });
});

describe("through the HTTP layer every adapter uses", () => {
  it("needs no getCustomer: every request is the deployment's, and the guard follows the entitlement", async () => {
    const ecs = PLATFORMS[1] as (typeof PLATFORMS)[number];
    const m = await createDeployment(options(ecs));
    // An adapter (or a Nest module) declaring the app's SaaS resolver changes nothing here.
    declareHttpSettings(m, { getCustomer: () => undefined });
    type Args = [req: { path: string }];
    const meter = createMeter<Args>(m, { dimension: "api_calls" });
    meter.finishDefault(200, { path: "/a" });
    meter.finishDefault(200, { path: "/b" });
    meter.finishDefault(500, { path: "/c" });
    // A handler given the app's own SaaS resolver (as a Nest module passes it) meters the deployment too.
    createMeter<Args>(m, { dimension: "api_calls", getCustomer: () => undefined }).finishDefault(200, {
      path: "/d",
    });
    expect(await createGuard<Args>(m, {})([{ path: "/a" }])).toMatchObject({ allowed: true });
    bed.advance(HOUR);
    await m.flush();
    expect(billed().map((r) => [r.dimension, r.quantity])).toEqual([["api_calls", 3]]);
    await m.close();

    const denied = await createDeployment(
      // Another task: AWS checks the entitlement on a task's first RegisterUsage only.
      options(ecs, {
        deploymentId: "ecs-resource-2",
        emulator: { platform: "ecs", accountId: OTHER_ACCOUNT },
        onNotEntitled: "deny-access",
      }),
    );
    expect(await createGuard<Args>(denied, {})([{ path: "/a" }])).toMatchObject({
      allowed: false,
      problem: { status: 402 },
    });
    await denied.close();
  });
});

describe("pacing", () => {
  it("keeps MeterUsage under AWS's 10 calls per second: one record is one call", async () => {
    const ec2 = PLATFORMS[0] as (typeof PLATFORMS)[number];
    const m = await createDeployment(options(ec2));
    for (let h = 0; h < 8; h++) {
      m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 1 });
      m.record({ identity: m.deployment.identity, dimension: "gb_stored", quantity: 1 });
      bed.advance(HOUR);
      await m.flush();
    }
    expect(billed()).toHaveLength(16);
    expect(meterCalls().filter((c) => c.errorType === "ThrottlingException")).toHaveLength(0);
    await m.close();
  });
});
