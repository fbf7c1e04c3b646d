// AgentCore metering per call and per interval shorter than the hour, against the emulator over HTTP with
// the real SDK client: one ledger record per client token, never billed twice after a lost answer or a
// restart.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clientToken } from "../src/deployment/index.js";
import { createDeployment, type DeploymentOptions, type UsageStore } from "../src/index.js";
import { droppingProxy, durable } from "./deployment-helpers.js";
import { credentials, DEMO, HOUR, type TestBed, testBed } from "./helpers.js";

const DIMS = ["api_calls", "gb_stored"] as const;
const MIN = 60_000;
const AGENT = "agent-runtime-1";

let bed: TestBed;
beforeEach(async () => {
  bed = await testBed(); // 10:30:00 UTC, clock frozen
});
afterEach(async () => {
  await bed.close();
});

function options(extra: Partial<DeploymentOptions<typeof DIMS>> = {}): DeploymentOptions<typeof DIMS> {
  return {
    mode: "agentcore",
    productCode: DEMO.P_CA,
    deploymentId: AGENT,
    dimensions: DIMS,
    aws: { region: "us-east-1", endpoint: bed.emu.endpoint, credentials },
    clock: () => bed.now(),
    autoStart: false,
    retry: { baseDelayMs: 10, maxDelayMs: 1000 },
    emulator: { platform: "agentcore" },
    ...extra,
  };
}

const billed = () => bed.emu.ledger({ operation: "MeterUsage" });
// The emulator keys tokens by Region: "us-east-1|<token>".
const tokens = () => [...bed.emu.state.clientTokens.keys()].map((k) => k.slice(k.indexOf("|") + 1));
const answered = () =>
  bed.emu.calls().filter((c) => c.operation === "MeterUsage" && c.errorType !== "DryRunOperation");

describe("AgentCore per call", () => {
  it("each record() is its own MeterUsage, sent without waiting for the hour, with its own token", async () => {
    const m = await createDeployment(options({ agentcore: { meter: "per-call" } }));
    const identity = m.deployment.identity;
    const at = bed.now() + 1234; // not on an hour, a minute or a second
    bed.set(at);
    // Two calls in the same millisecond are still two calls.
    m.record({ identity, dimension: "api_calls", quantity: 1 });
    m.record({ identity, dimension: "api_calls", quantity: 1 });
    m.record({ identity, dimension: "gb_stored", quantity: 5 });
    await m.flush();
    const ledger = billed();
    expect(ledger.map((r) => [r.dimension, r.quantity]).sort()).toEqual([
      ["api_calls", 1],
      ["api_calls", 1],
      ["gb_stored", 5],
    ]);
    // The timestamp is the call's, unrounded.
    expect(ledger.map((r) => r.timestamp * 1000)).toEqual([at, at, at]);
    expect(new Set(tokens()).size).toBe(3);
    expect(tokens()).toHaveLength(3);
    expect((await m.report()).map((g) => g.state)).toEqual(["sent", "sent", "sent"]);
    await m.close();
  });

  it("started (autoStart), a call is sent on its own, without a flush", async () => {
    const m = await createDeployment(options({ agentcore: { meter: "per-call" }, autoStart: true }));
    const sent = new Promise<number>((resolve) => m.on("sent", (e) => resolve(e.grain.quantity)));
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 4 });
    expect(await sent).toBe(4);
    expect(billed().map((r) => r.quantity)).toEqual([4]);
    await m.close();
  });

  it("a lost answer: the resend carries the same token and is billed once", async () => {
    const store = durable();
    const proxy = await droppingProxy(bed.emu.endpoint, 1);
    try {
      const aws = { region: "us-east-1", endpoint: proxy.endpoint, credentials };
      const first = await createDeployment(options({ agentcore: { meter: "per-call" }, aws, store }));
      first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 7 });
      await first.flush();
      expect(proxy.dropped()).toBe(1);
      expect(billed()).toHaveLength(1); // AWS has it; we do not know
      expect((await first.report())[0]).toMatchObject({ state: "retrying", uncertain: true });
      await first.close(); // killed before it learned the answer
      const second = await createDeployment(options({ agentcore: { meter: "per-call" }, store }));
      bed.advance(5_000);
      await second.flush();
      const [g] = await second.report();
      const ledger = billed();
      expect(ledger).toHaveLength(1);
      expect(tokens()).toHaveLength(1);
      expect(g).toMatchObject({ state: "sent", meteringRecordId: ledger[0]?.meteringRecordId });
      expect(answered().filter((c) => c.status === 200)).toHaveLength(2);
      await second.close();
    } finally {
      await proxy.close();
    }
  });

  it("usage saved before a crash is sent after the restart, and new calls never reuse its token", async () => {
    const store: UsageStore = durable();
    const first = await createDeployment(options({ agentcore: { meter: "per-call" }, store }));
    first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 2 });
    // Saved, then the process dies before it sends (AWS unreachable until then).
    bed.emu.setFaults({ MeterUsage: { throttle: { next: 100 } } });
    await first.checkpoint();
    await first.close();
    expect(billed()).toHaveLength(0);
    bed.emu.setFaults({});
    // Same millisecond: only the durable sequence tells the two calls apart.
    const second = await createDeployment(options({ agentcore: { meter: "per-call" }, store }));
    second.record({ identity: second.deployment.identity, dimension: "api_calls", quantity: 3 });
    bed.advance(5_000); // the first call's retry is due
    await second.flush();
    expect(
      billed()
        .map((r) => r.quantity)
        .sort(),
    ).toEqual([2, 3]);
    expect(new Set(tokens()).size).toBe(2);
    expect(answered().filter((c) => c.errorType === "IdempotencyConflictException")).toHaveLength(0);
    await second.close();
  });
});

describe("AgentCore per interval", () => {
  it("5-minute intervals: one record per interval once it is over, a restart mid-interval included", async () => {
    const store = durable();
    const agentcore = { meter: "interval", intervalMs: 5 * MIN } as const;
    const first = await createDeployment(options({ agentcore, store }));
    first.record({ identity: first.deployment.identity, dimension: "api_calls", quantity: 4 });
    await first.flush();
    expect(billed()).toHaveLength(0); // 10:30-10:35 is not over
    bed.advance(2 * MIN);
    await first.close(); // restarted mid-interval
    const second = await createDeployment(options({ agentcore, store }));
    second.record({ identity: second.deployment.identity, dimension: "api_calls", quantity: 6 });
    bed.advance(3 * MIN); // 10:35: the first interval is over, the next one begins
    second.record({ identity: second.deployment.identity, dimension: "api_calls", quantity: 1 });
    await second.flush();
    const start = Date.parse("2026-07-15T10:30:00Z");
    expect(billed().map((r) => [r.quantity, r.timestamp * 1000])).toEqual([[10, start]]);
    expect(tokens()).toEqual([
      clientToken({ deployment: AGENT, dimension: "api_calls", intervalStart: start, intervalMs: 5 * MIN }),
    ]);
    bed.advance(5 * MIN);
    await second.flush();
    expect(billed().map((r) => [r.quantity, r.timestamp * 1000])).toEqual([
      [10, start],
      [1, start + 5 * MIN],
    ]);
    expect(new Set(tokens()).size).toBe(2);
    await second.close();
  });

  it("a lost answer on an interval: the resend is the same request", async () => {
    const proxy = await droppingProxy(bed.emu.endpoint, 1);
    try {
      const aws = { region: "us-east-1", endpoint: proxy.endpoint, credentials };
      const m = await createDeployment(
        options({ agentcore: { meter: "interval", intervalMs: 10 * MIN }, aws }),
      );
      m.record({ identity: m.deployment.identity, dimension: "gb_stored", quantity: 3 });
      bed.advance(10 * MIN);
      await m.flush();
      expect(proxy.dropped()).toBe(1);
      bed.advance(5_000);
      await m.flush();
      expect(billed().map((r) => r.quantity)).toEqual([3]);
      expect(tokens()).toHaveLength(1);
      expect((await m.report())[0]).toMatchObject({ state: "sent" });
      await m.close();
    } finally {
      await proxy.close();
    }
  });

  it("the default is one record per hour, as before", async () => {
    const m = await createDeployment(options());
    m.record({ identity: m.deployment.identity, dimension: "api_calls", quantity: 2 });
    bed.advance(10 * MIN);
    await m.flush();
    expect(billed()).toHaveLength(0);
    bed.advance(HOUR);
    await m.flush();
    const hour = Date.parse("2026-07-15T10:00:00Z");
    expect(tokens()).toEqual([
      clientToken({ deployment: AGENT, dimension: "api_calls", intervalStart: hour }),
    ]);
    await m.close();
  });

  it("refuses bad agentcore options with INVALID_CONFIG before any call", async () => {
    for (const bad of [
      { agentcore: { meter: "sometimes" } },
      { agentcore: { meter: "interval", intervalMs: 7 * MIN } }, // does not divide the hour
      { agentcore: { meter: "interval", intervalMs: 1_000 } }, // under a minute
      { agentcore: { meter: "interval", intervalMs: 2 * HOUR } },
      { agentcore: { meter: "per-call", intervalMs: 5 * MIN } },
      { agentcore: "per-call" },
      { mode: "ami", agentcore: { meter: "per-call" } },
    ])
      await expect(createDeployment(options(bad as never))).rejects.toMatchObject({ code: "INVALID_CONFIG" });
    expect(bed.emu.calls()).toHaveLength(0);
  });
});
