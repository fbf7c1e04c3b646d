import { BatchMeterUsageCommand, MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type GrainInfo, isMarketplaceError, memoryStore } from "../src/index.js";
import { defined } from "./defined.js";
import {
  CA1,
  CA2,
  collect,
  credentials,
  DEMO,
  HOUR,
  hangingServer,
  LEG,
  type TestBed,
  TRANS,
  testBed,
} from "./helpers.js";

let bed: TestBed;
beforeEach(async () => {
  bed = await testBed();
});
afterEach(async () => bed.close());

const H10 = Date.parse("2026-07-15T10:00:00Z");
const UNKNOWN_LICENSE = "arn:aws:license-manager::294406891311:license:l-9999999999abcdef0123456789abcdef";

function licenseArn(i: number): string {
  return `arn:aws:license-manager::294406891311:license:l-${i.toString(16).padStart(4, "0")}56789abcdef0123456789abcdef`;
}

describe("reporter against the emulator", () => {
  it("batches per product and identity mode; Concurrent Agreements calls carry no ProductCode", async () => {
    const { client, sent } = bed.recordingClient();
    const m = bed.make({ aws: { client } });
    for (const identity of [CA1, CA2, LEG, TRANS])
      m.record({ identity, dimension: "api_calls", quantity: 4 });
    m.record({ identity: CA1, dimension: "gb_stored", quantity: 9 });
    bed.advance(HOUR);
    await m.flush();
    expect(sent).toHaveLength(3);
    for (const { input } of sent) {
      const records = input.UsageRecords as Array<Record<string, unknown>>;
      const modes = new Set(
        records.map((r) => (r.LicenseArn ? "license" : r.CustomerIdentifier ? "legacy" : "account")),
      );
      expect(modes.size).toBe(1);
      if (modes.has("license")) expect(input.ProductCode).toBeUndefined();
      else expect(input.ProductCode).toBe(DEMO.P_L);
      // Every record is stamped at the start of its hour.
      for (const r of records) expect((r.Timestamp as Date).getTime()).toBe(H10);
    }
    const ledger = bed.emu.ledger();
    expect(ledger).toHaveLength(5);
    expect(ledger.every((r) => r.hour === "2026-07-15T10:00:00.000Z")).toBe(true);
    const report = await m.report();
    expect(report.map((g) => g.state)).toEqual(Array(5).fill("sent"));
    expect(report.every((g) => typeof g.meteringRecordId === "string")).toBe(true);
    const ids = new Set(ledger.map((r) => r.meteringRecordId));
    expect(new Set(report.map((g) => g.meteringRecordId))).toEqual(ids);
    await m.close();
  });

  it("scenario.poison-bisection: isolates a poison record by bisection: the other 24 are billed", async () => {
    const m = bed.make();
    const rejected = collect(m, "rejected");
    for (let h = 4; h < 10; h++)
      for (const identity of [CA1, CA2])
        for (const dimension of ["api_calls", "gb_stored"] as const)
          m.record({ identity, dimension, quantity: h, timestamp: Date.UTC(2026, 6, 15, h, 10) });
    m.record({
      identity: { customerAWSAccountId: DEMO.A1, licenseArn: UNKNOWN_LICENSE, productCode: DEMO.P_CA },
      dimension: "api_calls",
      quantity: 1,
      timestamp: Date.UTC(2026, 6, 15, 9),
    });
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(24);
    const bad = (await m.report()).filter((g) => g.state !== "sent");
    expect(bad).toHaveLength(1);
    expect(bad[0]?.state).toBe("rejected");
    expect(bad[0]?.reason).toMatch(/InvalidLicenseException/);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.grain.identity.licenseArn).toBe(UNKNOWN_LICENSE);
    expect(bed.emu.rejected().every((r) => r.errorType === "InvalidLicenseException")).toBe(true);
    await m.close();
  });

  it("paces calls: never more than 10 per second, zero throttling at the emulator's 10/s", async () => {
    for (let i = 0; i < 150; i++)
      bed.emu.addLicense({
        licenseArn: licenseArn(i),
        customerAWSAccountId: DEMO.A2,
        productCode: DEMO.P_CA,
        activatedAt: "2026-07-01T00:00:00Z",
      });
    const { client, sent } = bed.recordingClient();
    const m = bed.make({ aws: { client } });
    for (let i = 0; i < 150; i++)
      for (const dimension of ["api_calls", "gb_stored"] as const)
        m.record({
          identity: { customerAWSAccountId: DEMO.A2, licenseArn: licenseArn(i), productCode: DEMO.P_CA },
          dimension,
          quantity: i + 1,
        });
    bed.advance(HOUR);
    await m.flush();
    expect(sent.length).toBe(12);
    expect(bed.emu.rejected().filter((r) => r.errorType === "ThrottlingException")).toHaveLength(0);
    expect(bed.emu.ledger()).toHaveLength(300);
    const times = sent.map((s) => s.at);
    for (let i = 10; i < times.length; i++)
      expect(defined(times[i]) - defined(times[i - 10])).toBeGreaterThanOrEqual(1000);
    expect(m.stats()).toMatchObject({ calls: 12, throttled: 0, sent: 300 });
    await m.close();
  });

  it("CustomerNotSubscribed is terminal and reported", async () => {
    const m = bed.make();
    const rejected = collect(m, "rejected");
    const pending = { customerAWSAccountId: DEMO.A2, licenseArn: DEMO.L3, productCode: DEMO.P_CA };
    m.record({ identity: pending, dimension: "api_calls", quantity: 3 });
    m.record({
      identity: { customerIdentifier: DEMO.C2, productCode: DEMO.P_L },
      dimension: "api_calls",
      quantity: 2,
    });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    expect(rejected.map((r) => [r.reason, r.code])).toEqual([
      ["CustomerNotSubscribed", "CUSTOMER_NOT_SUBSCRIBED"],
      ["CustomerNotSubscribed", "CUSTOMER_NOT_SUBSCRIBED"],
    ]);
    const g = await m.grain({ identity: pending, dimension: "api_calls", hour: H10 });
    expect(g).toMatchObject({ state: "rejected", reason: "CustomerNotSubscribed", quantity: 3 });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.calls().filter((c) => c.operation === "BatchMeterUsage")).toHaveLength(2);
    expect(bed.emu.ledger()).toHaveLength(1);
    await m.close();
  });

  it("final metering: flush({ identity }) sends the open hour now; later usage is carried forward, never sent twice", async () => {
    const m = bed.make();
    const carried = collect(m, "carriedForward");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 7 });
    m.record({ identity: CA2, dimension: "api_calls", quantity: 1 });
    await m.flush({ identity: CA1 });
    expect(bed.emu.ledger()).toMatchObject([
      { licenseArn: DEMO.L1, quantity: 7, hour: "2026-07-15T10:00:00.000Z" },
    ]);
    bed.advance(10 * 60_000);
    m.record({ identity: CA1, dimension: "api_calls", quantity: 5 });
    await m.checkpoint();
    expect(carried).toHaveLength(1);
    expect(carried[0]).toMatchObject({
      quantity: 5,
      reason: "closed",
      from: new Date(H10),
      to: new Date(H10 + HOUR),
    });
    // A second final flush in the same hour: the carried usage belongs to the next hour, which AWS
    // cannot accept before it starts, so it waits there.
    await m.flush({ identity: CA1 });
    expect(bed.emu.ledger({ customer: DEMO.L1 })).toHaveLength(1);
    expect(await m.grain({ identity: CA1, dimension: "api_calls", hour: H10 + HOUR })).toMatchObject({
      state: "pending",
      quantity: 5,
    });
    bed.set(H10 + 2 * HOUR + 10 * 60_000);
    await m.flush();
    const l1 = bed.emu.ledger({ customer: DEMO.L1 });
    expect(l1.map((r) => [r.hour, r.quantity])).toEqual([
      ["2026-07-15T10:00:00.000Z", 7],
      ["2026-07-15T11:00:00.000Z", 5],
    ]);
    expect(bed.emu.ledger({ customer: DEMO.L2 })).toHaveLength(1);
    expect(bed.emu.duplicates()).toHaveLength(0);
    await m.close();
  });

  it("usage for an hour already sent is carried into the open hour", async () => {
    const m = bed.make();
    const carried = collect(m, "carriedForward");
    m.record({ identity: LEG, dimension: "api_calls", quantity: 2, timestamp: Date.UTC(2026, 6, 15, 9, 30) });
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(1);
    m.record({ identity: LEG, dimension: "api_calls", quantity: 3, timestamp: Date.UTC(2026, 6, 15, 9, 59) });
    await m.checkpoint();
    expect(carried[0]).toMatchObject({ quantity: 3, from: new Date(H10 - HOUR), to: new Date(H10) });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([2, 3]);
    await m.close();
  });

  it("a grain never wraps past 2,147,483,647: the rest is reported in the next hour", async () => {
    const m = bed.make();
    const carried = collect(m, "carriedForward");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 2_000_000_000 });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 147_483_657 });
    await m.checkpoint();
    expect(carried).toEqual([
      expect.objectContaining({ quantity: 10, reason: "int32", to: new Date(H10 + HOUR) }),
    ]);
    bed.set(H10 + 2 * HOUR + 10 * 60_000);
    await m.flush();
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([2_147_483_647, 10]);
    await m.close();
  });

  it("retries throttling, 5xx and UnprocessedRecords durably, then delivers once", async () => {
    const m = bed.make();
    const retrying = collect(m, "retrying");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: CA2, dimension: "gb_stored", quantity: 2 });
    bed.emu.setFaults({ BatchMeterUsage: { throttle: { next: 1 } } });
    bed.advance(HOUR);
    await m.flush();
    expect(retrying).toHaveLength(1);
    expect((await m.report()).map((g) => g.state)).toEqual(["retrying", "retrying"]);
    bed.emu.setFaults({ BatchMeterUsage: { internalError: { next: 1 } } });
    bed.advance(2000);
    await m.flush();
    bed.emu.setFaults({ BatchMeterUsage: { unprocessed: { match: { licenseArn: DEMO.L2 } } } });
    bed.advance(5000);
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(1);
    const r = await m.report({ states: ["retrying"] });
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ dimension: "gb_stored", lastError: "UnprocessedRecords", attempts: 3 });
    bed.emu.setFaults({});
    bed.advance(5000);
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(2);
    expect(bed.emu.duplicates()).toHaveLength(0);
    expect(m.stats()).toMatchObject({ throttled: 1, sent: 2 });
    await m.close();
  });

  it("flush({ ignoreBackoff: true }) sends retrying grains now; a plain flush waits for their back-off", async () => {
    const m = bed.make();
    m.record({ identity: CA1, dimension: "api_calls", quantity: 3 });
    bed.emu.setFaults({ BatchMeterUsage: { throttle: { next: 1 } } });
    bed.advance(HOUR);
    await m.flush();
    const [waiting] = await m.report({ states: ["retrying"] });
    expect(waiting?.nextAttemptAt?.getTime()).toBeGreaterThan(bed.now());
    bed.emu.setFaults({});
    await m.flush();
    expect(bed.emu.ledger()).toHaveLength(0);
    await m.flush({ ignoreBackoff: true });
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([3]);
    expect((await m.report()).map((g) => g.state)).toEqual(["sent"]);
    await expect(m.flush({ ignoreBackoff: "yes" } as never)).rejects.toMatchObject({
      code: "INVALID_ARGUMENT",
    });
    await m.close();
  });

  it("window guard: warns before the 24 h limit and expires the grain after it", async () => {
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (_: object, msg?: string) => void warnings.push(msg ?? ""),
      error() {},
    };
    const m = bed.make({ logger });
    const warned = collect(m, "windowWarning");
    const expired = collect(m, "expired");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 4 });
    // UnprocessedRecords: AWS certainly did not record it (a lost answer would make it uncertain).
    bed.emu.setFaults({ BatchMeterUsage: { unprocessed: { probability: 1 } } });
    bed.advance(HOUR);
    await m.flush();
    expect(warned).toHaveLength(0);
    bed.set(H10 + 21 * HOUR + 30 * 60_000);
    await m.flush();
    expect(warned).toHaveLength(1);
    expect(warned[0]?.deadline).toEqual(new Date(H10 + 24 * HOUR));
    expect(warnings.some((w) => /acceptance window/.test(w))).toBe(true);
    bed.set(H10 + 24 * HOUR);
    bed.emu.setFaults({});
    await m.flush();
    expect(expired).toHaveLength(1);
    expect((await m.report())[0]).toMatchObject({ state: "expired" });
    expect(bed.emu.ledger()).toHaveLength(0);
    await m.close();
  });

  it("month-end: previous-month hours are sent until 06:00 UTC on the 1st, then expired", async () => {
    const start = Date.parse("2026-07-31T23:20:00Z");
    bed.set(start);
    const m = bed.make();
    const warned = collect(m, "windowWarning");
    const expired = collect(m, "expired");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: CA2, dimension: "api_calls", quantity: 2 });
    await m.checkpoint();
    bed.emu.setFaults({ BatchMeterUsage: { unprocessed: { probability: 1 } } });
    bed.set(Date.parse("2026-08-01T00:10:00Z"));
    await m.flush();
    expect(warned).toHaveLength(0);
    bed.set(Date.parse("2026-08-01T03:30:00Z"));
    await m.flush();
    expect(warned.map((w) => w.deadline.toISOString())).toEqual([
      "2026-08-01T06:00:00.000Z",
      "2026-08-01T06:00:00.000Z",
    ]);
    bed.emu.setFaults({});
    bed.set(Date.parse("2026-08-01T05:59:00Z"));
    await m.flush({ identity: CA1 });
    expect(bed.emu.ledger()).toMatchObject([{ licenseArn: DEMO.L1, hour: "2026-07-31T23:00:00.000Z" }]);
    bed.set(Date.parse("2026-08-01T06:00:00Z"));
    await m.flush();
    expect(expired).toHaveLength(1);
    expect(expired[0]?.grain.identity.licenseArn).toBe(DEMO.L2);
    expect(bed.emu.ledger()).toHaveLength(1);
    await m.close();
  });

  it("restart resume: pending and retrying grains of the store are sent by the next instance", async () => {
    const store = memoryStore();
    const first = bed.make({ store });
    first.record({ identity: CA1, dimension: "api_calls", quantity: 3 });
    first.record({ identity: CA2, dimension: "api_calls", quantity: 6, timestamp: H10 - HOUR });
    bed.emu.setFaults({ BatchMeterUsage: { internalError: { probability: 1 } } });
    await first.flush();
    expect((await store.list()).map((g) => g.state)).toEqual(["retrying", "pending"]);
    // The first instance dies without close(); a new one takes over the same store.
    bed.emu.setFaults({});
    bed.advance(HOUR);
    const second = bed.make({ store });
    await second.flush();
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([6, 3]);
    await second.close();
  });

  it("DuplicateRecord: a conflicting earlier write is reported; our own unconfirmed write counts as billed", async () => {
    const direct = bed.recordingClient().client;
    await direct.send(
      new BatchMeterUsageCommand({
        UsageRecords: [
          {
            Timestamp: new Date(H10),
            Dimension: "api_calls",
            Quantity: 99,
            CustomerAWSAccountId: DEMO.A1,
            LicenseArn: DEMO.L1,
          },
        ],
      }),
    );
    const store = memoryStore();
    const m = bed.make({ store });
    const dups = collect(m, "duplicate");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 5 });
    m.record({ identity: CA2, dimension: "api_calls", quantity: 8 });
    bed.advance(HOUR);
    await m.checkpoint();
    // A "ghost" instance claims CA2's grain, sends it, and dies before writing the result.
    await m.flush({ identity: CA1 });
    expect(dups).toEqual([
      expect.objectContaining({ ownEarlierWrite: false, quantity: 5, billedQuantity: undefined }),
    ]);
    expect(await m.grain({ identity: CA1, dimension: "api_calls", hour: H10 })).toMatchObject({
      state: "rejected",
      reason: "DuplicateRecord",
    });
    await store.closeGrains({ hourBefore: H10 + HOUR, now: bed.now() });
    const [ghost] = await store.claim({ owner: "ghost", now: bed.now(), leaseMs: 60_000, limit: 1 });
    expect(ghost?.quantity).toBe(8);
    await direct.send(
      new BatchMeterUsageCommand({
        UsageRecords: [
          {
            Timestamp: new Date(H10),
            Dimension: "api_calls",
            Quantity: 8,
            CustomerAWSAccountId: DEMO.A1,
            LicenseArn: DEMO.L2,
          },
        ],
      }),
    );
    bed.emu.setProfile({ identicalResend: "duplicate" });
    bed.advance(61_000);
    await m.flush();
    expect(dups[1]).toMatchObject({ ownEarlierWrite: true, quantity: 8, billedQuantity: 8 });
    expect(await m.grain({ identity: CA2, dimension: "api_calls", hour: H10 })).toMatchObject({
      state: "sent",
    });
    expect(bed.emu.ledger().map((r) => r.quantity)).toEqual([99, 8]);
    await m.close();
  });

  it("dry run: nothing reaches AWS, everything else runs", async () => {
    const m = bed.make({ dryRun: true, aws: undefined });
    const sent = collect(m, "sent");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({ identity: LEG, dimension: "api_calls", quantity: 2 });
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.calls()).toHaveLength(0);
    expect(sent.map((s) => s.dryRun)).toEqual([true, true]);
    expect((await m.report()).map((g) => [g.state, g.reason])).toEqual([
      ["sent", "dry-run"],
      ["sent", "dry-run"],
    ]);
    await m.close();
  });

  it("tags become usage allocations that sum to the quantity", async () => {
    const m = bed.make();
    m.record({ identity: CA1, dimension: "api_calls", quantity: 6, tags: { team: "blue" } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 4, tags: { team: "red", env: "prod" } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    m.record({
      identity: CA1,
      dimension: "api_calls",
      quantity: 3,
      allocations: [{ quantity: 2, tags: { team: "blue" } }, { quantity: 1 }],
    });
    bed.advance(HOUR);
    await m.flush();
    const [billed] = bed.emu.ledger();
    expect(billed?.quantity).toBe(14);
    const byTags = Object.fromEntries(
      (billed?.allocations ?? []).map((a) => [JSON.stringify(a.tags ?? []), a.quantity]),
    );
    expect(byTags).toEqual({
      '[{"key":"team","value":"blue"}]': 8,
      '[{"key":"env","value":"prod"},{"key":"team","value":"red"}]': 4,
      "[]": 2,
    });
    await m.close();
  });

  it("zero records for known active customers, only once the hour is final", async () => {
    const m = bed.make({ zeroRecords: { identities: [CA2], dimensions: ["api_calls"] } });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    await m.flush();
    // At start the most recent final hour (09:00) gets its zero; the open hour (10:00) does not.
    expect(bed.emu.ledger().map((r) => [r.licenseArn, r.quantity, r.hour])).toEqual([
      [DEMO.L2, 0, "2026-07-15T09:00:00.000Z"],
    ]);
    bed.advance(HOUR);
    await m.flush();
    expect(bed.emu.ledger().map((r) => [r.licenseArn, r.quantity, r.hour])).toEqual([
      [DEMO.L2, 0, "2026-07-15T09:00:00.000Z"],
      [DEMO.L1, 1, "2026-07-15T10:00:00.000Z"],
      [DEMO.L2, 0, "2026-07-15T10:00:00.000Z"],
    ]);
    await m.close();
  });

  it("close() with the memory store sends the open hour too (nothing silently lost)", async () => {
    const warnings: string[] = [];
    const logger = {
      debug() {},
      info() {},
      warn: (_: object, msg?: string) => void warnings.push(msg ?? ""),
      error() {},
    };
    const m = bed.make({ logger });
    m.record({ identity: CA1, dimension: "api_calls", quantity: 11 });
    await m.close();
    expect(bed.emu.ledger()).toMatchObject([{ quantity: 11, hour: "2026-07-15T10:00:00.000Z" }]);
    expect(warnings.some((w) => /memory store/.test(w))).toBe(true);
    expect(() => m.record({ identity: CA1, dimension: "api_calls", quantity: 1 })).toThrow(
      expect.objectContaining({ code: "CLOSED" }),
    );
  });

  it("record() validates at the door and stores nothing for bad input", async () => {
    const m = bed.make();
    const bad: Array<[unknown, string]> = [
      [{ identity: CA1, dimension: "API_CALLS", quantity: 1 }, "INVALID_DIMENSION"],
      [{ identity: CA1, dimension: "api_calls", quantity: -1 }, "INVALID_QUANTITY"],
      [{ identity: CA1, dimension: "api_calls", quantity: 1.5 }, "INVALID_QUANTITY"],
      [{ identity: CA1, dimension: "api_calls", quantity: 2 ** 53 }, "INVALID_QUANTITY"],
      [
        { identity: { ...CA1, customerAWSAccountId: "12345" }, dimension: "api_calls", quantity: 1 },
        "INVALID_IDENTITY",
      ],
      [
        { identity: { ...CA1, licenseArn: "lic-123" }, dimension: "api_calls", quantity: 1 },
        "INVALID_IDENTITY",
      ],
      [
        { identity: { ...CA1, productCode: "pnotconfigured" }, dimension: "api_calls", quantity: 1 },
        "UNKNOWN_PRODUCT",
      ],
      [
        { identity: CA1, dimension: "api_calls", quantity: 1, timestamp: bed.now() + HOUR },
        "INVALID_TIMESTAMP",
      ],
      [
        { identity: CA1, dimension: "api_calls", quantity: 1, tags: { "bad[key]": "x" } },
        "INVALID_ALLOCATIONS",
      ],
      [
        { identity: CA1, dimension: "api_calls", quantity: 3, allocations: [{ quantity: 1 }] },
        "INVALID_ALLOCATIONS",
      ],
    ];
    for (const [input, code] of bad) {
      let caught: unknown;
      try {
        m.record(input as never);
      } catch (e) {
        caught = e;
      }
      expect(isMarketplaceError(caught, code as never), `${code}: ${String(caught)}`).toBe(true);
    }
    expect(m.stats().records).toBe(0);
    expect(await m.report()).toHaveLength(0);
    await m.close();
  });

  it("events can be unsubscribed; a throwing handler does not break reporting", async () => {
    const m = bed.make();
    const seen: GrainInfo[] = [];
    const off = m.on("sent", (e) => seen.push(e.grain));
    m.on("sent", () => {
      throw new Error("boom");
    });
    const errors = collect(m, "error");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    off();
    m.record({ identity: CA1, dimension: "api_calls", quantity: 1 });
    bed.advance(HOUR);
    await m.flush();
    expect(seen).toHaveLength(1);
    expect(errors.filter((e) => e.phase === "handler")).toHaveLength(2);
    expect(bed.emu.ledger()).toHaveLength(2);
    expect(() => m.on("nope" as never, () => {})).toThrow(/unknown event/);
    await m.close();
  });
});

describe("a slow or silent AWS", () => {
  const FORM = { "content-type": "application/x-www-form-urlencoded" };
  const logs = () => {
    const lines: string[] = [];
    const put = (o: object, msg?: string) => void lines.push(`${msg ?? ""} ${JSON.stringify(o)}`);
    return { lines, logger: { debug: put, info: put, warn: put, error: put } };
  };

  it("a hanging BatchMeterUsage is aborted at its deadline; the grain is left retrying and uncertain", async () => {
    const hang = await hangingServer();
    try {
      const m = bed.make({ aws: { endpoint: hang.endpoint, credentials, requestTimeoutMs: 200 } });
      const retrying = collect(m, "retrying");
      m.record({ identity: CA1, dimension: "api_calls", quantity: 4 });
      bed.advance(HOUR);
      await m.flush();
      expect(hang.received).toHaveLength(1);
      expect(hang.received[0]).toMatch(/BatchMeterUsage/);
      expect(retrying).toHaveLength(1);
      expect(await m.report()).toMatchObject([{ state: "retrying", uncertain: true, attempts: 1 }]);
      await m.close();
    } finally {
      await hang.close();
    }
  });

  it("an injected client is bounded by the same deadline (abort signal per call)", async () => {
    const hang = await hangingServer();
    const client = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: hang.endpoint,
      credentials,
      maxAttempts: 1,
    });
    try {
      const m = bed.make({ aws: { client, requestTimeoutMs: 200 } });
      m.record({ identity: LEG, dimension: "api_calls", quantity: 2 });
      bed.advance(HOUR);
      await m.flush();
      expect(hang.received).toHaveLength(1);
      expect(await m.report()).toMatchObject([{ state: "retrying", uncertain: true }]);
      await m.close();
    } finally {
      client.destroy();
      await hang.close();
    }
  });

  it("a hanging ResolveCustomer or GetEntitlements is aborted: AWS_UNAVAILABLE", async () => {
    const hang = await hangingServer();
    try {
      const m = bed.make({ aws: { endpoint: hang.endpoint, credentials, requestTimeoutMs: 200 } });
      const body = Buffer.from(`x-amzn-marketplace-token=${encodeURIComponent(DEMO.T_OK)}`);
      await expect(m.register({ method: "POST", headers: FORM, body })).rejects.toMatchObject({
        code: "AWS_UNAVAILABLE",
        details: { httpStatus: 503 },
      });
      await expect(m.entitlements(CA1, { refresh: true })).rejects.toMatchObject({
        code: "AWS_UNAVAILABLE",
      });
      expect(hang.received.map((t) => t.split(".")[1])).toEqual(["ResolveCustomer", "GetEntitlements"]);
      await m.close();
    } finally {
      await hang.close();
    }
  });

  it("a sender whose lease ran out cannot settle; the next claim treats the grain as uncertain and sends it once", async () => {
    const hang = await hangingServer();
    const store = memoryStore();
    const { lines, logger } = logs();
    try {
      const a = bed.make({
        store,
        logger,
        instanceId: "a",
        leaseMs: 20_000,
        aws: { endpoint: hang.endpoint, credentials, requestTimeoutMs: 300 },
      });
      a.record({ identity: CA1, dimension: "api_calls", quantity: 6 });
      bed.advance(HOUR);
      const flushing = a.flush();
      await hang.request(1);
      // The business clock passes the lease while the call is still out.
      bed.advance(21_000);
      await flushing;
      expect(a.stats().fenced).toBe(1);
      expect(lines.some((l) => /lease/.test(l) && /not written/.test(l))).toBe(true);
      const [g] = await store.list();
      // Nothing of a's late outcome was written; the grain now counts as possibly sent.
      expect(g).toMatchObject({ state: "closed", attempts: 0, uncertain: true });
      expect(g?.lastError).toBeUndefined();
      const b = bed.make({ store, instanceId: "b" });
      await b.flush();
      expect(await b.report()).toMatchObject([{ state: "sent", uncertain: true }]);
      expect(bed.emu.ledger()).toHaveLength(1);
      await b.close();
      await a.close();
    } finally {
      await hang.close();
    }
  });

  it("an uncertain grain past AWS's window is reported uncertain (check the seller reports), not expired", async () => {
    const { lines, logger } = logs();
    const m = bed.make({ logger });
    const expired = collect(m, "expired");
    const uncertain = collect(m, "uncertain");
    m.record({ identity: CA1, dimension: "api_calls", quantity: 4 });
    m.record({ identity: CA2, dimension: "api_calls", quantity: 5 });
    // A 5xx: AWS may have recorded CA1's usage; UnprocessedRecords: CA2's certainly was not.
    bed.emu.setFaults({ BatchMeterUsage: { internalError: { next: 1 } } });
    bed.advance(HOUR);
    await m.flush({ identity: CA1 });
    bed.emu.setFaults({ BatchMeterUsage: { unprocessed: { probability: 1 } } });
    await m.flush();
    bed.set(H10 + 25 * HOUR);
    bed.emu.setFaults({});
    await m.flush();
    expect(uncertain).toHaveLength(1);
    expect(uncertain[0]?.grain.identity.licenseArn).toBe(DEMO.L1);
    expect(uncertain[0]?.check).toMatch(/seller report/i);
    expect(expired.map((e) => e.grain.identity.licenseArn)).toEqual([DEMO.L2]);
    const report = await m.report();
    expect(report.map((g) => [g.identity.licenseArn, g.state])).toEqual([
      [DEMO.L1, "uncertain"],
      [DEMO.L2, "expired"],
    ]);
    expect(report[0]?.reason).toMatch(/seller report/i);
    expect(m.stats()).toMatchObject({ uncertain: 1, expired: 1 });
    expect(lines.some((l) => /may have been billed/.test(l))).toBe(true);
    expect(bed.emu.ledger()).toHaveLength(0);
    await m.close();
  });
});

describe("configuration", () => {
  it("refuses bad options at construction with INVALID_CONFIG", () => {
    const cases: unknown[] = [
      { ...bed.options(), products: [] },
      { ...bed.options(), dimensions: [] },
      { ...bed.options(), dimensions: ["a", "a"] },
      { ...bed.options(), callsPerSecond: 0 },
      { ...bed.options(), gracePeriodMs: -1 },
      { ...bed.options(), store: {} },
      { ...bed.options(), aws: { region: "Mars" } },
      { ...bed.options(), aws: { endpoint: "not a url", credentials } },
      { ...bed.options(), bogus: true },
      // The lease must outlast the worst-case call (attempts × (request + connection) plus a margin).
      { ...bed.options(), leaseMs: 10_000 },
      { ...bed.options(), aws: { credentials, requestTimeoutMs: 30_000, maxAttempts: 2 } },
      { ...bed.options(), leaseMs: 20_000, aws: { credentials, requestTimeoutMs: 10_000 } },
      { ...bed.options(), closeTimeoutMs: -1 },
    ];
    for (const c of cases)
      expect(() => bed.make(c as never)).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});
