import {
  InvalidCustomerIdentifierException,
  InvalidLicenseException,
  InvalidProductCodeException,
  InvalidTagException,
  InvalidUsageAllocationsException,
  InvalidUsageDimensionException,
  TimestampOutOfBoundsException,
  type UsageAllocation,
  type UsageRecord,
} from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Emulator } from "../src/index.js";
import {
  at,
  BMU,
  bmu,
  ca,
  DEMO,
  epoch,
  H09,
  H10,
  member,
  metering,
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
const legacy = (
  ts: Date | string,
  who: { ci?: string; acct?: string },
  qty = 1,
  dim = "api_calls",
): UsageRecord => ({
  Timestamp: typeof ts === "string" ? at(ts) : ts,
  Dimension: dim,
  Quantity: qty,
  ...(who.ci !== undefined ? { CustomerIdentifier: who.ci } : {}),
  ...(who.acct !== undefined ? { CustomerAWSAccountId: who.acct } : {}),
});
/** 25 distinct valid CA grains (2 licenses × 2 dimensions × 7 hours, first 25). */
const grains25 = (): UsageRecord[] => {
  const out: UsageRecord[] = [];
  for (const lic of [DEMO.L1, DEMO.L2]) {
    for (const dim of ["api_calls", "gb_stored"]) {
      for (let h = 0; h < 7; h++) out.push(ca(new Date(H10.getTime() - h * 3600_000), dim, h + 1, lic));
    }
  }
  return out.slice(0, 25);
};
const alloc = (q: number, tags?: Array<[string, string]>): UsageAllocation => ({
  AllocatedUsageQuantity: q,
  ...(tags ? { Tags: tags.map(([Key, Value]) => ({ Key, Value })) } : {}),
});
const withAlloc = (qty: number, allocations: UsageAllocation[]): UsageRecord => ({
  ...ca(H09, "api_calls", qty),
  UsageAllocations: allocations,
});
const rawRecord = (extra: object) => ({
  UsageRecords: [
    {
      Timestamp: epoch(H09),
      CustomerAWSAccountId: DEMO.A1,
      LicenseArn: DEMO.L1,
      Dimension: "api_calls",
      Quantity: 1,
      ...extra,
    },
  ],
});

describe("BatchMeterUsage shape validation", () => {
  it("batch-shape.records-required: UsageRecords missing → ValidationException", async () => {
    const r = await raw(emu, BMU, { ProductCode: DEMO.P_L });
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("ValidationException");
  });

  it("batch-shape.empty-list: UsageRecords [] → 200 with empty Results and UnprocessedRecords", async () => {
    const out = await bmu(c(), []);
    expect(out.Results).toEqual([]);
    expect(out.UnprocessedRecords).toEqual([]);
    const r = await raw(emu, BMU, { UsageRecords: [] });
    expect(r.json).toEqual({ Results: [], UnprocessedRecords: [] });
  });

  it("batch-shape.max-25-records: 25 valid records → 25 Results", async () => {
    const out = await bmu(c(), grains25());
    expect(out.Results).toHaveLength(25);
    expect(out.Results?.every((r) => r.Status === "Success")).toBe(true);
    expect(emu.ledger()).toHaveLength(25);
  });

  it("batch-shape.too-many-records: 26 records → ValidationException, nothing recorded", async () => {
    const records = [...grains25(), ca(H10, "api_calls", 1, DEMO.L2)];
    const err = await rejectsNamed(bmu(c(), records), "ValidationException");
    expect(err.message).toMatch(/usageRecords.*less than or equal to 25/);
    expect(emu.ledger()).toEqual([]);
    expect((await bmu(c(), grains25())).Results?.every((r) => r.Status === "Success")).toBe(true);
  });

  it("batch-shape.timestamp-required: record without Timestamp → ValidationException", async () => {
    const r = await raw(emu, BMU, {
      UsageRecords: [{ CustomerAWSAccountId: DEMO.A1, LicenseArn: DEMO.L1, Dimension: "api_calls" }],
    });
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("ValidationException");
  });

  it("batch-shape.dimension-length: Dimension missing, empty or 256 characters → ValidationException", async () => {
    const r = await raw(emu, BMU, {
      UsageRecords: [{ Timestamp: epoch(H09), CustomerAWSAccountId: DEMO.A1, LicenseArn: DEMO.L1 }],
    });
    expect(member(r.json, "__type")).toBe("ValidationException");
    await rejectsNamed(bmu(c(), [ca(H09, "", 1)]), "ValidationException");
    await rejectsNamed(bmu(c(), [ca(H09, "d".repeat(256), 1)]), "ValidationException");
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-shape.negative-quantity: Quantity -1 → ValidationException; the whole batch is not recorded", async () => {
    await rejectsNamed(bmu(c(), [ca(H09, "gb_stored", 3), ca(H09, "api_calls", -1)]), "ValidationException");
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-shape.max-quantity: Quantity 2147483647 → Success", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 2147483647)]);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger()[0]?.quantity).toBe(2147483647);
  });

  it("batch-shape.quantity-overflow: Quantity 2147483648 → ValidationException, not recorded", async () => {
    await rejectsNamed(
      bmu(c(), [ca(H09, "gb_stored", 1), ca(H09, "api_calls", 2147483648)]),
      "ValidationException",
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-shape.quantity-default-zero: Quantity omitted → Success billed as 0; the echo omits Quantity", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls")]);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(out.Results?.[0]?.UsageRecord?.Quantity).toBeUndefined();
    expect(emu.ledger()[0]?.quantity).toBe(0);
    const r = await raw(emu, BMU, {
      UsageRecords: [
        { Timestamp: epoch(H10), CustomerAWSAccountId: DEMO.A1, LicenseArn: DEMO.L1, Dimension: "api_calls" },
      ],
    });
    expect(member(r.json, "Results", 0, "UsageRecord")).not.toHaveProperty("Quantity");
  });

  it("batch-shape.product-code-pattern: ProductCode with a bad character or longer than 255 → ValidationException", async () => {
    await rejectsNamed(bmu(c(), [legacy(H09, { ci: DEMO.C1 })], "abc$"), "ValidationException");
    await rejectsNamed(bmu(c(), [legacy(H09, { ci: DEMO.C1 })], "p".repeat(256)), "ValidationException");
  });

  it('batch-shape.account-id-digits: CustomerAWSAccountId not all digits or "" → ValidationException', async () => {
    await rejectsNamed(bmu(c(), [legacy(H09, { acct: "12345678901a" })], DEMO.P_L), "ValidationException");
    await rejectsNamed(bmu(c(), [legacy(H09, { acct: "" })], DEMO.P_L), "ValidationException");
  });

  it("batch-shape.license-arn-pattern: LicenseArn not matching the ARN pattern → InvalidLicenseException", async () => {
    await rejects(bmu(c(), [ca(H09, "api_calls", 1, "lic-123")]), InvalidLicenseException);
  });

  it('batch-shape.empty-strings-absent: ProductCode "" and CustomerIdentifier "" are treated as absent', async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 1)], "");
    expect(out.Results?.[0]?.Status).toBe("Success");
    const b = await bmu(c(), [{ ...legacy(H09, { acct: DEMO.A3 }), CustomerIdentifier: "" }], DEMO.P_L);
    expect(b.Results?.[0]?.Status).toBe("Success");
  });
});

describe("BatchMeterUsage identity modes", () => {
  it("batch-identity.ca-success: CA happy path → Success with a UUID MeteringRecordId and no unprocessed records", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 10)]);
    expect(out.Results).toHaveLength(1);
    expect(out.Results?.[0]).toMatchObject({
      Status: "Success",
      UsageRecord: {
        Timestamp: H09,
        CustomerAWSAccountId: DEMO.A1,
        LicenseArn: DEMO.L1,
        Dimension: "api_calls",
        Quantity: 10,
      },
    });
    expect(out.Results?.[0]?.MeteringRecordId).toMatch(UUID);
    expect(out.UnprocessedRecords).toEqual([]);
  });

  it("batch-identity.echo-submitted: the echo repeats the submitted timestamp, not the floored hour", async () => {
    const out = await bmu(c(), [ca(new Date(1784106934_000), "api_calls", 1)]);
    expect(out.Results?.[0]?.UsageRecord?.Timestamp?.getTime()).toBe(1784106934_000);
    expect(emu.ledger()[0]).toMatchObject({ timestamp: 1784106934, hour: "2026-07-15T09:00:00.000Z" });
  });

  it("batch-identity.product-code-with-license: CA record plus request-level ProductCode → ValidationException, not recorded", async () => {
    await rejectsNamed(bmu(c(), [ca(H09, "api_calls", 1)], DEMO.P_CA), "ValidationException");
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-identity.license-needs-account: LicenseArn without CustomerAWSAccountId → ValidationException", async () => {
    await rejectsNamed(
      bmu(c(), [{ Timestamp: H09, LicenseArn: DEMO.L1, Dimension: "api_calls", Quantity: 1 }]),
      "ValidationException",
    );
  });

  it("batch-identity.license-of-other-account: LicenseArn of another customer → InvalidLicenseException; whole batch not recorded", async () => {
    await rejects(
      bmu(c(), [ca(H09, "gb_stored", 1), ca(H09, "api_calls", 1, DEMO.L1, DEMO.A2)]),
      InvalidLicenseException,
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-identity.unknown-license: well-formed but unknown LicenseArn → InvalidLicenseException", async () => {
    const unknown = "arn:aws:license-manager::294406891311:license:l-9999999999abcdef0123456789abcdef";
    await rejects(bmu(c(), [ca(H09, "api_calls", 1, unknown)]), InvalidLicenseException);
  });

  it("batch-identity.one-product-per-call: licenses of two products in one batch → InvalidLicenseException; nothing recorded", async () => {
    await rejects(
      bmu(c(), [ca(H09, "api_calls", 1, DEMO.L1), ca(H09, "seats", 1, DEMO.L4)]),
      InvalidLicenseException,
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-identity.concurrent-licenses: two concurrent licenses of one account are distinct grains", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 5, DEMO.L1), ca(H09, "api_calls", 7, DEMO.L2)]);
    expect(out.Results?.map((r) => r.Status)).toEqual(["Success", "Success"]);
    expect(emu.ledger().map((r) => r.quantity)).toEqual([5, 7]);
  });

  it("batch-identity.both-customer-fields: a record with both CustomerIdentifier and CustomerAWSAccountId → ValidationException", async () => {
    await rejectsNamed(
      bmu(c(), [legacy(H09, { ci: DEMO.C1, acct: DEMO.A3 })], DEMO.P_L),
      "ValidationException",
    );
  });

  it("batch-identity.mixed-request: a request mixing CustomerIdentifier and CustomerAWSAccountId records → ValidationException; nothing recorded", async () => {
    await rejectsNamed(
      bmu(c(), [legacy(H09, { ci: DEMO.C1 }), legacy(H09, { acct: DEMO.A3 }, 1, "api_calls")], DEMO.P_L),
      "ValidationException",
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-identity.legacy-customer: legacy mode A (ProductCode + CustomerIdentifier) → Success", async () => {
    const out = await bmu(c(), [legacy(H09, { ci: DEMO.C1 })], DEMO.P_L);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger()[0]).toMatchObject({
      productCode: DEMO.P_L,
      customerIdentifier: DEMO.C1,
      customerAWSAccountId: DEMO.A3,
    });
  });

  it("batch-identity.legacy-account: transitional mode B (ProductCode + CustomerAWSAccountId) → Success", async () => {
    const out = await bmu(c(), [legacy(H09, { acct: DEMO.A3 })], DEMO.P_L);
    expect(out.Results?.[0]?.Status).toBe("Success");
  });

  it("batch-identity.customer-identifier-on-ca-product: CustomerIdentifier on a Concurrent-Agreements product → InvalidCustomerIdentifierException", async () => {
    await rejects(bmu(c(), [legacy(H09, { ci: DEMO.C1 })], DEMO.P_CA), InvalidCustomerIdentifierException);
  });

  it("batch-identity.no-product: neither ProductCode nor any LicenseArn → InvalidProductCodeException", async () => {
    await rejects(bmu(c(), [legacy(H09, { acct: DEMO.A3 })]), InvalidProductCodeException);
    await rejects(bmu(c(), [legacy(H09, { ci: DEMO.C1 })]), InvalidProductCodeException);
  });

  it("batch-identity.unknown-product: unknown product code or another seller's product → InvalidProductCodeException", async () => {
    await rejects(
      bmu(c(), [legacy(H09, { ci: DEMO.C1 })], "zzzz1234567890abcdefghijk"),
      InvalidProductCodeException,
    );
    await rejects(bmu(c(), [legacy(H09, { acct: DEMO.A2 })], DEMO.P_FOREIGN), InvalidProductCodeException);
  });

  it("batch-identity.no-customer: legacy record without any customer identity → InvalidCustomerIdentifierException", async () => {
    await rejects(bmu(c(), [legacy(H09, {})], DEMO.P_L), InvalidCustomerIdentifierException);
  });

  it("batch-identity.unknown-customer: never-issued CustomerIdentifier → InvalidCustomerIdentifierException; profile invalidCustomer=perRecord → CustomerNotSubscribed", async () => {
    await rejects(
      bmu(c(), [legacy(H09, { ci: DEMO.C1 }), legacy(H09, { ci: "cust-DOESNOTEXIST" })], DEMO.P_L),
      InvalidCustomerIdentifierException,
    );
    expect(emu.ledger()).toEqual([]);
    emu.setProfile({ invalidCustomer: "perRecord" });
    const out = await bmu(
      c(),
      [legacy(H09, { ci: DEMO.C1 }), legacy(H09, { ci: "cust-DOESNOTEXIST" })],
      DEMO.P_L,
    );
    expect(out.Results?.map((r) => r.Status)).toEqual(["Success", "CustomerNotSubscribed"]);
  });
});

describe("BatchMeterUsage time window (now 2026-07-15T10:30:00Z)", () => {
  const ok = async (ts: string) =>
    expect((await bmu(c(), [ca(at(ts), "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
  const tooOld = (ts: string) =>
    rejects(bmu(c(), [ca(at(ts), "api_calls", 1)]), TimestampOutOfBoundsException);

  it("batch-window.current-hour: current hour (already started) → Success", async () => {
    await ok("10:00:00");
  });

  it("batch-window.future-hour: future hour → TimestampOutOfBoundsException; whole batch not recorded", async () => {
    await rejects(
      bmu(c(), [ca(H09, "gb_stored", 1), ca(at("12:00:00"), "api_calls", 1)]),
      TimestampOutOfBoundsException,
    );
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-window.rest-of-current-hour: later in the current hour (10:59:59) → Success", async () => {
    await ok("10:59:59");
  });

  it("batch-window.under-24h: 23 h 59 m 59 s old → Success", async () => {
    await ok("2026-07-14T10:30:01Z");
  });

  it("batch-window.exactly-24h: exactly 24 h old → TimestampOutOfBoundsException", async () => {
    await tooOld("2026-07-14T10:30:00Z");
  });

  it("batch-window.over-24h: 24 h + 1 s old → TimestampOutOfBoundsException", async () => {
    await tooOld("2026-07-14T10:29:59Z");
  });

  it("batch-window.six-hour-profile: 6 h + 1 s old → Success; profile window=6h → TimestampOutOfBoundsException", async () => {
    await ok("04:29:59");
    emu.setProfile({ window: "6h" });
    await rejects(bmu(c(), [ca(at("04:29:59"), "gb_stored", 1)]), TimestampOutOfBoundsException);
  });

  it("batch-window.poison-timestamp: 24 valid records plus one 25 h old → TimestampOutOfBoundsException; none recorded", async () => {
    const records = [...grains25().slice(0, 24), ca(at("2026-07-14T09:30:00Z"), "api_calls", 1)];
    await rejects(bmu(c(), records), TimestampOutOfBoundsException);
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-window.month-end-grace: month end inside the grace: now 08-01T05:59:59Z, record 07-31T23:00Z → Success", async () => {
    emu.clock.set("2026-08-01T05:59:59Z", { freeze: true });
    await ok("2026-07-31T23:00:00Z");
  });

  it("batch-window.month-end-closed: month end after the grace: now 08-01T06:00Z, record 07-31T23:00Z → TimestampOutOfBoundsException", async () => {
    emu.clock.set("2026-08-01T06:00:00Z", { freeze: true });
    await tooOld("2026-07-31T23:00:00Z");
  });

  it("batch-window.month-end-old-hour: month end, 22 h old hour before the cut-off → Success", async () => {
    emu.clock.set("2026-08-01T05:00:00Z", { freeze: true });
    await ok("2026-07-31T07:00:00Z");
  });

  it("batch-window.new-month-unaffected: after the cut-off, current-month records are unaffected", async () => {
    emu.clock.set("2026-08-01T06:00:00Z", { freeze: true });
    await ok("2026-08-01T00:00:00Z");
  });

  it("batch-window.before-activation: hour entirely before license activation → InvalidLicenseException; the hour overlapping activation → Success", async () => {
    const late = "arn:aws:license-manager::294406891311:license:l-7123456789abcdef0123456789abcdef";
    emu.addLicense({
      licenseArn: late,
      customerAWSAccountId: DEMO.A2,
      productCode: DEMO.P_CA,
      activatedAt: "2026-07-15T10:05:00Z",
    });
    await rejects(bmu(c(), [ca(H09, "api_calls", 1, late, DEMO.A2)]), InvalidLicenseException);
    const out = await bmu(c(), [ca(H10, "api_calls", 1, late, DEMO.A2)]);
    expect(out.Results?.[0]?.Status).toBe("Success");
  });
});

describe("Hour grain and de-duplication", () => {
  it("batch-dedup.grain-key: grain = identity × dimension × UTC hour; identities per mode are separate keys", async () => {
    await bmu(c(), [ca(at("09:37:12"), "api_calls", 3)]);
    expect(emu.ledger()[0]).toMatchObject({
      hour: "2026-07-15T09:00:00.000Z",
      licenseArn: DEMO.L1,
      customerAWSAccountId: DEMO.A1,
    });
    const dup = await bmu(c(), [ca(at("09:01:00"), "api_calls", 4)]);
    expect(dup.Results?.[0]?.Status).toBe("DuplicateRecord");
    // (ProductCode, CustomerIdentifier) and (ProductCode, CustomerAWSAccountId) are different keys.
    expect((await bmu(c(), [legacy(H09, { ci: DEMO.C1 }, 2)], DEMO.P_L)).Results?.[0]?.Status).toBe(
      "Success",
    );
    expect((await bmu(c(), [legacy(H09, { acct: DEMO.A3 }, 5)], DEMO.P_L)).Results?.[0]?.Status).toBe(
      "Success",
    );
  });

  it("batch-dedup.identical-resend: identical resend → Success with the same MeteringRecordId, billed once; identicalResend=duplicate → DuplicateRecord", async () => {
    const first = await bmu(c(), [ca(H09, "api_calls", 10)]);
    const again = await bmu(c(), [ca(H09, "api_calls", 10)]);
    expect(again.Results?.[0]?.Status).toBe("Success");
    expect(again.Results?.[0]?.MeteringRecordId).toBe(first.Results?.[0]?.MeteringRecordId);
    expect(emu.ledger().map((r) => r.quantity)).toEqual([10]);
    emu.setProfile({ identicalResend: "duplicate" });
    const third = await bmu(c(), [ca(H09, "api_calls", 10)]);
    expect(third.Results?.[0]?.Status).toBe("DuplicateRecord");
    expect(emu.ledger().map((r) => r.quantity)).toEqual([10]);
  });

  it("batch-dedup.same-hour-other-minute: same grain, same quantity, another minute → Success with the first id", async () => {
    const first = await bmu(c(), [ca(H09, "api_calls", 10)]);
    const later = await bmu(c(), [ca(at("09:15:00"), "api_calls", 10)]);
    expect(later.Results?.[0]).toMatchObject({
      Status: "Success",
      MeteringRecordId: first.Results?.[0]?.MeteringRecordId,
    });
  });

  it("batch-dedup.other-quantity: same grain, different quantity → DuplicateRecord without MeteringRecordId; first write is billed", async () => {
    await bmu(c(), [ca(H09, "api_calls", 10)]);
    const out = await bmu(c(), [ca(at("09:45:00"), "api_calls", 12)]);
    expect(out.Results?.[0]?.Status).toBe("DuplicateRecord");
    expect(out.Results?.[0]?.MeteringRecordId).toBeUndefined();
    expect(emu.ledger().map((r) => r.quantity)).toEqual([10]);
    expect(emu.duplicates()).toEqual([
      expect.objectContaining({ billedQuantity: 10, attemptedQuantity: 12, licenseArn: DEMO.L1 }),
    ]);
  });

  it("batch-dedup.within-request: two records of one grain in one request → Success then DuplicateRecord (array order)", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 10), ca(H09, "api_calls", 12)]);
    expect(out.Results?.map((r) => r.Status)).toEqual(["Success", "DuplicateRecord"]);
  });

  it("batch-dedup.allocations-ignored: same grain and quantity with different allocations → Success; the first allocations are kept", async () => {
    await bmu(c(), [withAlloc(10, [alloc(10, [["BU", "IT"]])])]);
    const out = await bmu(c(), [withAlloc(10, [alloc(10, [["BU", "Finance"]])])]);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger()[0]?.allocations).toEqual([{ quantity: 10, tags: [{ key: "BU", value: "IT" }] }]);
  });

  it("batch-dedup.independent-grains: different hours or dimensions are independent grains", async () => {
    const out = await bmu(c(), [
      ca(H09, "api_calls", 1),
      ca(H10, "api_calls", 2),
      ca(H09, "gb_stored", 3),
      ca(H10, "gb_stored", 4),
    ]);
    expect(out.Results?.map((r) => r.Status)).toEqual(["Success", "Success", "Success", "Success"]);
  });

  it("batch-dedup.zero-locks-hour: zero locks the hour: 0 then 5 → DuplicateRecord", async () => {
    expect((await bmu(c(), [ca(H09, "api_calls", 0)])).Results?.[0]?.Status).toBe("Success");
    expect((await bmu(c(), [ca(H09, "api_calls", 5)])).Results?.[0]?.Status).toBe("DuplicateRecord");
    expect(emu.ledger().map((r) => r.quantity)).toEqual([0]);
  });

  it("batch-dedup.verdicts-not-writes: DuplicateRecord never changes the first write; CustomerNotSubscribed is not a write", async () => {
    await bmu(c(), [ca(H09, "api_calls", 10)]);
    await bmu(c(), [ca(H09, "api_calls", 11)]);
    expect(emu.ledger()).toEqual([expect.objectContaining({ quantity: 10 })]);
    const before = await bmu(c(), [ca(H10, "api_calls", 3, DEMO.L3, DEMO.A2)]);
    expect(before.Results?.[0]?.Status).toBe("CustomerNotSubscribed");
    await emu.subscribe({ licenseArn: DEMO.L3 });
    const after = await bmu(c(), [ca(H10, "api_calls", 3, DEMO.L3, DEMO.A2)]);
    expect(after.Results?.[0]?.Status).toBe("Success");
  });

  it("batch-dedup.failed-request-no-write: requests failing at request level leave no grain behind", async () => {
    await rejects(
      bmu(c(), [ca(H09, "api_calls", 10), ca(H09, "API_CALLS", 1)]),
      InvalidUsageDimensionException,
    );
    await rejects(
      bmu(c(), [ca(H09, "api_calls", 10), ca(at("12:00:00"), "api_calls", 1)]),
      TimestampOutOfBoundsException,
    );
    const out = await bmu(c(), [ca(H09, "api_calls", 99)]);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger().map((r) => r.quantity)).toEqual([99]);
  });

  it("batch-dedup.per-region: de-duplication is per Region", async () => {
    await bmu(metering(emu, "us-east-1"), [ca(H09, "api_calls", 10)]);
    const eu = await bmu(metering(emu, "eu-west-1"), [ca(H09, "api_calls", 77)]);
    expect(eu.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger({ region: "eu-west-1" }).map((r) => r.quantity)).toEqual([77]);
  });

  it("batch-dedup.window-before-dedup: a resend older than 24 h gets TimestampOutOfBoundsException, not DuplicateRecord", async () => {
    emu.clock.set("2026-07-14T10:00:00Z", { freeze: true });
    await bmu(c(), [ca(at("2026-07-14T09:00:00Z"), "api_calls", 10)]);
    emu.clock.set(DEMO.now, { freeze: true });
    await rejects(bmu(c(), [ca(at("2026-07-14T09:00:00Z"), "api_calls", 10)]), TimestampOutOfBoundsException);
  });

  it("batch-dedup.legacy-and-ca-separate: legacy and CA paths are separate: both bill the same buyer/hour/dimension", async () => {
    const la3 = "arn:aws:license-manager::294406891311:license:l-8123456789abcdef0123456789abcdef";
    emu.addLicense({ licenseArn: la3, customerAWSAccountId: DEMO.A3, productCode: DEMO.P_L });
    expect((await bmu(c(), [legacy(H09, { ci: DEMO.C1 }, 4)], DEMO.P_L)).Results?.[0]?.Status).toBe(
      "Success",
    );
    expect((await bmu(c(), [ca(H09, "api_calls", 4, la3, DEMO.A3)])).Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger({ productCode: DEMO.P_L })).toHaveLength(2);
  });
});

describe("Subscription state", () => {
  it("batch-subscription.pending-license: license not yet activated → CustomerNotSubscribed without id; other records still processed", async () => {
    const out = await bmu(c(), [ca(H09, "api_calls", 3, DEMO.L3, DEMO.A2), ca(H09, "api_calls", 1)]);
    expect(out.Results?.[0]).toMatchObject({ Status: "CustomerNotSubscribed" });
    expect(out.Results?.[0]?.MeteringRecordId).toBeUndefined();
    expect(out.Results?.[1]?.Status).toBe("Success");
  });

  it("batch-subscription.final-window-open: deprovisioned 20 min ago (final window open) → Success", async () => {
    expect((await bmu(c(), [ca(H10, "api_calls", 4, DEMO.L6)])).Results?.[0]?.Status).toBe("Success");
  });

  it("batch-subscription.final-window-closed: final window closed → CustomerNotSubscribed", async () => {
    expect((await bmu(c(), [ca(H09, "api_calls", 4, DEMO.L5)])).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
  });

  it("batch-subscription.legacy-unsubscribed: unsubscribed legacy customer → CustomerNotSubscribed", async () => {
    expect((await bmu(c(), [legacy(H09, { ci: DEMO.C2 })], DEMO.P_L)).Results?.[0]?.Status).toBe(
      "CustomerNotSubscribed",
    );
  });

  it("batch-subscription.suspended-account: suspended buyer account → CustomerNotSubscribed", async () => {
    await emu.suspend({ customerAWSAccountId: DEMO.A1 });
    expect((await bmu(c(), [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("CustomerNotSubscribed");
    await emu.suspend({ customerAWSAccountId: DEMO.A1, suspended: false });
    expect((await bmu(c(), [ca(H09, "api_calls", 1)])).Results?.[0]?.Status).toBe("Success");
  });

  it("batch-subscription.mixed-statuses: mixed batch → Success, DuplicateRecord, CustomerNotSubscribed in input order", async () => {
    await bmu(c(), [ca(H09, "api_calls", 10)]);
    const out = await bmu(c(), [
      ca(H10, "api_calls", 1),
      ca(H09, "api_calls", 11),
      ca(H09, "api_calls", 1, DEMO.L3, DEMO.A2),
    ]);
    expect(out.Results?.map((r) => r.Status)).toEqual([
      "Success",
      "DuplicateRecord",
      "CustomerNotSubscribed",
    ]);
    expect(out.Results?.map((r) => r.UsageRecord?.Quantity)).toEqual([1, 11, 1]);
  });

  it("batch-subscription.every-record-answered: Results + UnprocessedRecords always add up to the records submitted", async () => {
    emu.setFaults({ BatchMeterUsage: { unprocessed: { probability: 0.5 } } });
    for (let i = 0; i < 5; i++) {
      const records = grains25().slice(0, 10 + i * 3);
      const out = await bmu(c(), records);
      expect((out.Results?.length ?? 0) + (out.UnprocessedRecords?.length ?? 0)).toBe(records.length);
    }
  });
});

describe("Allocations and tags", () => {
  it("batch-allocations.split: allocations summing to Quantity → Success", async () => {
    const out = await bmu(c(), [withAlloc(10, [alloc(6, [["BU", "IT"]]), alloc(4, [["BU", "Finance"]])])]);
    expect(out.Results?.[0]?.Status).toBe("Success");
    expect(emu.ledger()[0]?.allocations).toHaveLength(2);
  });

  it("batch-allocations.sum-mismatch: allocations not summing to Quantity → InvalidUsageAllocationsException; batch not recorded", async () => {
    for (const second of [3, 5]) {
      await rejects(
        bmu(c(), [
          ca(H09, "gb_stored", 1),
          withAlloc(10, [alloc(6, [["BU", "IT"]]), alloc(second, [["BU", "Finance"]])]),
        ]),
        InvalidUsageAllocationsException,
      );
    }
    expect(emu.ledger()).toEqual([]);
  });

  it("batch-allocations.untagged-bucket: an untagged bucket plus tagged buckets summing to Quantity → Success", async () => {
    const out = await bmu(c(), [withAlloc(10, [alloc(2), alloc(8, [["BU", "IT"]])])]);
    expect(out.Results?.[0]?.Status).toBe("Success");
  });

  it("batch-allocations.zero: Quantity 0 with one allocation of 0 → Success", async () => {
    expect((await bmu(c(), [withAlloc(0, [alloc(0, [["BU", "IT"]])])])).Results?.[0]?.Status).toBe("Success");
  });

  it("batch-allocations.six-tags: six tags on one allocation → InvalidTagException", async () => {
    const six = Array.from({ length: 6 }, (_, i) => [`k${i}`, "v"] as [string, string]);
    await rejects(bmu(c(), [withAlloc(1, [alloc(1, six)])]), InvalidTagException);
  });

  it("batch-allocations.tag-keys-across-list: six distinct tag keys across allocations → InvalidTagException; tagKeyLimit=perAllocation accepts", async () => {
    const rec = withAlloc(2, [
      alloc(1, [
        ["a", "1"],
        ["b", "1"],
        ["c", "1"],
      ]),
      alloc(1, [
        ["d", "1"],
        ["e", "1"],
        ["f", "1"],
      ]),
    ]);
    await rejects(bmu(c(), [rec]), InvalidTagException);
    emu.setProfile({ tagKeyLimit: "perAllocation" });
    expect((await bmu(c(), [rec])).Results?.[0]?.Status).toBe("Success");
  });

  it("batch-allocations.duplicate-tag-set: two allocations with the same tag set → InvalidUsageAllocationsException", async () => {
    await rejects(
      bmu(c(), [withAlloc(2, [alloc(1, [["BU", "IT"]]), alloc(1, [["BU", "IT"]])])]),
      InvalidUsageAllocationsException,
    );
  });

  it("batch-allocations.tag-format: bad tags → InvalidTagException; '#' and '!' are accepted", async () => {
    const bad: UsageAllocation[] = [
      { AllocatedUsageQuantity: 1, Tags: [] },
      alloc(1, [["BU", ""]]),
      alloc(1, [["k".repeat(101), "v"]]),
      alloc(1, [["BU", "v".repeat(257)]]),
      alloc(1, [["BU[", "v"]]),
      alloc(1, [["BU", "café"]]),
    ];
    for (const a of bad) await rejects(bmu(c(), [withAlloc(1, [a])]), InvalidTagException);
    const missingValue = await raw(
      emu,
      BMU,
      rawRecord({ UsageAllocations: [{ AllocatedUsageQuantity: 1, Tags: [{ Key: "BU" }] }] }),
    );
    expect(member(missingValue.json, "__type")).toBe("InvalidTagException");
    expect((await bmu(c(), [withAlloc(1, [alloc(1, [["team#1", "a!b"]])])])).Results?.[0]?.Status).toBe(
      "Success",
    );
  });

  it("batch-allocations.empty-list: UsageAllocations [] → InvalidUsageAllocationsException", async () => {
    await rejects(bmu(c(), [withAlloc(1, [])]), InvalidUsageAllocationsException);
  });

  it("batch-allocations.too-many: 2,501 allocations → InvalidUsageAllocationsException", async () => {
    const many = Array.from({ length: 2501 }, (_, i) => alloc(1, [["n", String(i)]]));
    await rejects(bmu(c(), [withAlloc(2501, many)]), InvalidUsageAllocationsException);
  });

  it("batch-allocations.bad-quantity: AllocatedUsageQuantity -1 or missing → InvalidUsageAllocationsException", async () => {
    await rejects(
      bmu(c(), [withAlloc(1, [alloc(-1, [["a", "1"]]), alloc(2, [["b", "1"]])])]),
      InvalidUsageAllocationsException,
    );
    const r = await raw(emu, BMU, rawRecord({ UsageAllocations: [{ Tags: [{ Key: "a", Value: "1" }] }] }));
    expect(member(r.json, "__type")).toBe("InvalidUsageAllocationsException");
  });

  it("batch-dimension.unknown: unknown (case-sensitive) dimension → InvalidUsageDimensionException for the whole batch", async () => {
    await rejects(
      bmu(c(), [ca(H09, "gb_stored", 1), ca(H09, "API_CALLS", 1)]),
      InvalidUsageDimensionException,
    );
    expect(emu.ledger()).toEqual([]);
  });
});
