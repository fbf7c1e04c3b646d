import {
  InvalidUsageDimensionException,
  MarketplaceMeteringClient,
  TimestampOutOfBoundsException,
} from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createEmulatorState, demoConfig, type Emulator, type LifecycleNotification } from "../src/index.js";
import { defined } from "./defined.js";
import { member } from "./helpers.js";
import {
  at,
  BatchMeterUsageCommand,
  BMU,
  bmu,
  ca,
  credentials,
  DEMO,
  H09,
  H10,
  metering,
  ResolveCustomerCommand,
  raw,
  rejects,
  startTestEmulator,
} from "./lifecycle-helpers.js";

let emu: Emulator;
beforeEach(async () => {
  emu = await startTestEmulator();
});
afterEach(async () => {
  await emu.close();
});
const c = () => metering(emu);

describe("Deprovisioning and other lifecycle changes", () => {
  it("lifecycle.deprovision-window: License Deprovisioned at t keeps metering open until t + 1 h, then CustomerNotSubscribed (default windowAfterDeprovision)", async () => {
    const seen: LifecycleNotification[] = [];
    const state = createEmulatorState({
      config: demoConfig({ frozen: true }),
      emit: async (n) => void seen.push(n),
    });
    expect(state.licenseActive(defined(state.licenses.get(DEMO.L1)))).toBe(true);
    await state.deprovision({ licenseArn: DEMO.L1 });
    expect(seen.map((n) => n.action)).toEqual(["agreement-ended", "license-deprovisioned"]);
    expect(seen[1]).toMatchObject({
      licenseArn: DEMO.L1,
      customerAWSAccountId: DEMO.A1,
      productCode: DEMO.P_CA,
      productId: "prod-pca1example",
    });
    expect(seen[1]?.time.toISOString()).toBe(DEMO.now);
    state.clock.advance(3600_000 - 1000);
    expect(state.licenseActive(defined(state.licenses.get(DEMO.L1)))).toBe(true);
    state.clock.advance(1000);
    expect(state.licenseActive(defined(state.licenses.get(DEMO.L1)))).toBe(false);

    // Over the wire, with the same clock moves.
    await emu.deprovision({ licenseArn: DEMO.L1 });
    expect((await bmu(c(), [ca(H10, "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
    emu.clock.advance(3600_000);
    expect((await bmu(c(), [ca(at("11:00:00"), "gb_stored", 1)])).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
  });

  it("lifecycle.deprovision-after-window: deprovisionOrder=afterWindow: Agreement Ended opens the window, License Deprovisioned (sent when it closes) ends metering", async () => {
    const seen: LifecycleNotification[] = [];
    const state = createEmulatorState({
      config: { ...demoConfig({ frozen: true }), profile: { deprovisionOrder: "afterWindow" } },
      emit: async (n) => void seen.push(n),
    });
    await state.deprovision({ licenseArn: DEMO.L1 });
    expect(seen.map((n) => n.action)).toEqual(["agreement-ended"]);
    expect(state.licenseActive(defined(state.licenses.get(DEMO.L1)))).toBe(true);
    state.clock.advance(3600_000);
    await state.processDue();
    expect(seen.map((n) => n.action)).toEqual(["agreement-ended", "license-deprovisioned"]);
    expect(seen[1]?.time.toISOString()).toBe("2026-07-15T11:30:00.000Z");
    expect(state.licenseActive(defined(state.licenses.get(DEMO.L1)))).toBe(false);
  });

  it("lifecycle.legacy-unsubscribe: unsubscribe-pending now, unsubscribe-success when the final window closes", async () => {
    const seen: LifecycleNotification[] = [];
    const state = createEmulatorState({
      config: demoConfig({ frozen: true }),
      emit: async (n) => void seen.push(n),
    });
    await state.unsubscribe({ customerIdentifier: DEMO.C1 });
    const c1 = defined(state.findCustomer(DEMO.C1));
    expect(seen.map((n) => n.action)).toEqual(["unsubscribe-pending"]);
    expect(state.customerActive(c1)).toBe(true);
    state.clock.advance(3600_000);
    await state.processDue();
    expect(seen.map((n) => n.action)).toEqual(["unsubscribe-pending", "unsubscribe-success"]);
    expect(seen[1]).toMatchObject({ customerIdentifier: DEMO.C1, productCode: DEMO.P_L });
    expect(state.customerActive(c1)).toBe(false);
    await state.subscribe({ customerIdentifier: DEMO.C1 });
    expect(seen.at(-1)?.action).toBe("subscribe-success");
    await state.subscribe({ productCode: DEMO.P_L, customerAWSAccountId: DEMO.A2, fail: true });
    expect(seen.at(-1)?.action).toBe("subscribe-fail");
  });

  it("lifecycle.subscribe-events: new CA subscription emits agreement-created then license-updated; entitlement changes emit license-updated/entitlement-updated", async () => {
    const seen: LifecycleNotification[] = [];
    const state = createEmulatorState({
      config: demoConfig({ frozen: true }),
      emit: async (n) => void seen.push(n),
    });
    const b = await state.subscribe({ productCode: DEMO.P_CA, customerAWSAccountId: DEMO.A3 });
    expect(b.kind).toBe("license");
    expect(seen.map((n) => n.action)).toEqual(["agreement-created", "license-updated"]);
    await state.setEntitlements([
      { productCode: DEMO.P_OTHER, dimension: "seats", licenseArn: DEMO.L4, value: 30 },
    ]);
    await state.setEntitlements([
      { productCode: DEMO.P_L, dimension: "api_calls", customerIdentifier: DEMO.C1, value: true },
    ]);
    expect(seen.slice(2).map((n) => n.action)).toEqual(["license-updated", "entitlement-updated"]);
    await state.suspend({ licenseArn: DEMO.L2 });
    expect(seen.at(-1)).toMatchObject({ action: "license-updated", licenseArn: DEMO.L2 });
  });

  it("lifecycle.window-closes-unattended: the final window closes on its own when the clock moves (no request needed)", async () => {
    await emu.unsubscribe({ customerIdentifier: DEMO.C1 });
    emu.clock.advance(3600_000);
    await emu.settle();
    expect(emu.state.findCustomer(DEMO.C1)?.status).toBe("unsubscribed");
  });
});

describe("End-to-end scenarios", () => {
  it("scenario.ca-lifecycle: full CA lifecycle: token → resolve → License Updated → Success → deprovisioned → Success within 1 h → CustomerNotSubscribed", async () => {
    const lic = "arn:aws:license-manager::294406891311:license:l-a123456789abcdef0123456789abcdef";
    emu.addLicense({
      licenseArn: lic,
      customerAWSAccountId: DEMO.A3,
      productCode: DEMO.P_CA,
      status: "pending",
    });
    const token = emu.mintToken({ licenseArn: lic });
    const who = await c().send(new ResolveCustomerCommand({ RegistrationToken: token }));
    expect(who).toMatchObject({ CustomerAWSAccountId: DEMO.A3, LicenseArn: lic });
    expect((await bmu(c(), [ca(H10, "api_calls", 1, lic, DEMO.A3)])).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
    await emu.subscribe({ licenseArn: lic });
    expect((await bmu(c(), [ca(H10, "api_calls", 1, lic, DEMO.A3)])).Results?.[0]?.Status).toBe("Success");
    emu.clock.advance(3600_000);
    expect((await bmu(c(), [ca(at("11:00:00"), "api_calls", 2, lic, DEMO.A3)])).Results?.[0]?.Status).toBe(
      "Success",
    );
    await emu.deprovision({ licenseArn: lic });
    emu.clock.advance(30 * 60_000);
    expect((await bmu(c(), [ca(at("11:00:00"), "gb_stored", 3, lic, DEMO.A3)])).Results?.[0]?.Status).toBe(
      "Success",
    );
    emu.clock.advance(31 * 60_000);
    expect((await bmu(c(), [ca(at("12:00:00"), "api_calls", 4, lic, DEMO.A3)])).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
    expect(emu.ledger({ customer: lic }).map((r) => r.quantity)).toEqual([1, 2, 3]);
  });

  it("scenario.partial-counts: two reporters submitting partial counts for one grain: 7 Success, 5 DuplicateRecord; the ledger bills 7", async () => {
    const [a, b] = [c(), c()];
    expect((await bmu(a, [ca(H09, "api_calls", 7)])).Results?.[0]?.Status).toBe("Success");
    expect((await bmu(b, [ca(H09, "api_calls", 5)])).Results?.[0]?.Status).toBe("DuplicateRecord");
    expect(emu.ledger().map((r) => r.quantity)).toEqual([7]);
  });

  it("scenario.poison-bisection: poison record: 25 records with one unknown dimension fail; bisected, the 24 good ones succeed", async () => {
    const good = Array.from({ length: 24 }, (_, i) =>
      ca(new Date(H10.getTime() - (i % 12) * 3600_000), i < 12 ? "api_calls" : "gb_stored", i + 1),
    );
    const bad = ca(H09, "API_CALLS", 1);
    await rejects(bmu(c(), [...good.slice(0, 12), bad, ...good.slice(12)]), InvalidUsageDimensionException);
    const out = await bmu(c(), good);
    expect(out.Results?.every((r) => r.Status === "Success")).toBe(true);
    await rejects(bmu(c(), [bad]), InvalidUsageDimensionException);
    expect(emu.ledger()).toHaveLength(24);
  });

  it("scenario.unprocessed-resend: resending exactly the unprocessed records → Success, no DuplicateRecord", async () => {
    emu.setFaults({ BatchMeterUsage: { unprocessed: { next: 3 } } });
    const records = [
      ca(H09, "api_calls", 1),
      ca(H09, "gb_stored", 2),
      ca(H10, "api_calls", 3),
      ca(H10, "gb_stored", 4),
    ];
    const out = await bmu(c(), records);
    expect(out.UnprocessedRecords).toHaveLength(3);
    expect(out.Results).toHaveLength(1);
    const again = await bmu(c(), out.UnprocessedRecords ?? []);
    expect(again.Results?.map((r) => r.Status)).toEqual(["Success", "Success", "Success"]);
    expect(emu.duplicates()).toEqual([]);
    expect(emu.ledger()).toHaveLength(4);
  });

  it("scenario.lost-response: retry after a lost response: the resend gets the original ids and the ledger bills once", async () => {
    emu.setFaults({ BatchMeterUsage: { latencyMs: { ms: 800, next: 1 } } });
    const abort = new AbortController();
    const lost = c().send(new BatchMeterUsageCommand({ UsageRecords: [ca(H09, "api_calls", 10)] }), {
      abortSignal: abort.signal,
    });
    // Abort once the emulator holds the request (the one-shot latency fault has fired), not after a guess.
    const latencyFired = async () => {
      const res = await fetch(`${emu.endpoint}/_emulator/faults`);
      const faults = (await res.json()) as { BatchMeterUsage?: { latencyMs?: { next?: number } } };
      return faults.BatchMeterUsage?.latencyMs?.next === 0;
    };
    await vi.waitFor(async () => expect(await latencyFired()).toBe(true), { timeout: 5000, interval: 5 });
    abort.abort();
    await expect(lost).rejects.toThrow();
    await vi.waitFor(() => expect(emu.ledger()).toHaveLength(1), { timeout: 5000, interval: 10 });
    const first = emu.ledger()[0];
    expect(first?.quantity).toBe(10);
    const resent = await bmu(c(), [ca(H09, "api_calls", 10)]);
    expect(resent.Results?.[0]).toMatchObject({
      Status: "Success",
      MeteringRecordId: first?.meteringRecordId,
    });
    emu.setProfile({ identicalResend: "duplicate" });
    expect((await bmu(c(), [ca(H09, "api_calls", 10)])).Results?.[0]?.Status).toBe("DuplicateRecord");
    expect(emu.ledger()).toHaveLength(1);
  });

  it("scenario.wire-timestamp-hour: the record's hour is taken from the wire timestamp (SDK 3.1138.0 sends 09:59:59.600 as 1784109599.6, not rounded)", async () => {
    // Older code-generated serializers rounded to whole seconds (→ 10:00:00); this SDK build keeps the
    // fraction. Either way the emulator floors the value it receives.
    await bmu(c(), [ca(new Date("2026-07-15T09:59:59.600Z"), "api_calls", 1)]);
    expect(emu.ledger()[0]).toMatchObject({ timestamp: 1784109599.6, hour: "2026-07-15T09:00:00.000Z" });
    const r = await raw(emu, BMU, {
      UsageRecords: [
        {
          Timestamp: 1784109600,
          CustomerAWSAccountId: DEMO.A1,
          LicenseArn: DEMO.L1,
          Dimension: "api_calls",
          Quantity: 1,
        },
      ],
    });
    expect(member(r.json, "Results", 0, "Status")).toBe("Success");
    expect(emu.ledger()[1]).toMatchObject({ timestamp: 1784109600, hour: "2026-07-15T10:00:00.000Z" });
  });

  it("scenario.month-end-flush: month-end flush: previous-month hours succeed at 05:50Z and fail at 06:00Z", async () => {
    emu.clock.set("2026-08-01T05:50:00Z", { freeze: true });
    const june = [
      ca(new Date("2026-07-31T22:00:00Z"), "api_calls", 1),
      ca(new Date("2026-07-31T23:00:00Z"), "api_calls", 2),
    ];
    expect((await bmu(c(), june)).Results?.map((r) => r.Status)).toEqual(["Success", "Success"]);
    emu.clock.set("2026-08-01T06:00:00Z", { freeze: true });
    await rejects(
      bmu(c(), [ca(new Date("2026-07-31T23:00:00Z"), "gb_stored", 1)]),
      TimestampOutOfBoundsException,
    );
  });
});

it("metering clients of one emulator share state across Regions only where they should", async () => {
  const us = new MarketplaceMeteringClient({
    region: "us-east-1",
    endpoint: emu.endpoint,
    credentials,
    maxAttempts: 1,
  });
  await bmu(us, [ca(H09, "api_calls", 1)]);
  expect(emu.ledger({ region: "us-east-1" })).toHaveLength(1);
  expect(emu.ledger({ region: "eu-west-1" })).toHaveLength(0);
});
