import {
  IdempotencyConflictException,
  InternalServiceErrorException,
  InvalidProductCodeException,
  MeterUsageCommand,
  TimestampOutOfBoundsException,
} from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Emulator } from "../src/index.js";
import {
  addHeaders,
  BMU,
  bmu,
  ca,
  DEMO,
  epoch,
  H09,
  member,
  metering,
  RESOLVE,
  raw,
  rejects,
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

const caRaw = (ts: number | string, qty: unknown = 1, extra: object = {}) => ({
  UsageRecords: [
    {
      Timestamp: ts,
      CustomerAWSAccountId: DEMO.A1,
      LicenseArn: DEMO.L1,
      Dimension: "api_calls",
      Quantity: qty,
      ...extra,
    },
  ],
});

describe("Envelope and protocol", () => {
  it("envelope.json-success: valid BatchMeterUsage → 200, awsJson 1.1 content type, x-amzn-RequestId UUID, JSON body", async () => {
    const r = await raw(emu, BMU, caRaw(epoch(H09)));
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("application/x-amz-json-1.1");
    expect(r.headers.get("x-amzn-requestid")).toMatch(UUID);
    expect(member(r.json, "Results", 0, "Status")).toBe("Success");
    const out = await bmu(metering(emu), [ca(H09, "gb_stored", 1)]);
    expect(out.$metadata.requestId).toMatch(UUID);
  });

  it("envelope.unknown-operation: unknown X-Amz-Target operation → UnknownOperationException", async () => {
    const r = await raw(emu, "AWSMPMeteringService.DoesNotExist", {});
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("UnknownOperationException");
  });

  it("envelope.missing-target: missing X-Amz-Target → UnknownOperationException", async () => {
    const r = await raw(emu, undefined, {});
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("UnknownOperationException");
  });

  it("envelope.malformed-json: body that is not JSON → SerializationException", async () => {
    const r = await raw(emu, BMU, '{"UsageRecords": [');
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("SerializationException");
  });

  it("envelope.empty-body: empty body is parsed as {} and then required members are checked", async () => {
    for (const target of [BMU, RESOLVE]) {
      const r = await raw(emu, target, "");
      expect(r.status).toBe(400);
      expect(member(r.json, "__type")).toBe("ValidationException");
      expect(member(r.json, "message")).toMatch(/must not be null/);
    }
  });

  it("envelope.status-codes: client errors are 400, InternalServiceErrorException 500, IdempotencyConflictException 409", async () => {
    const c = metering(emu);
    const e400 = await rejects(
      bmu(c, [{ Timestamp: H09, CustomerIdentifier: DEMO.C1, Dimension: "api_calls" }], "zzzzunknown"),
      InvalidProductCodeException,
    );
    expect(e400.$metadata.httpStatusCode).toBe(400);
    emu.setFaults({ BatchMeterUsage: { internalError: { next: 1 } } });
    const e500 = await rejects(bmu(c, [ca(H09, "api_calls", 1)]), InternalServiceErrorException);
    expect(e500.$metadata.httpStatusCode).toBe(500);
    const agent = metering(emu, "us-east-1", { "x-emu-platform": "agentcore" });
    const base = {
      ProductCode: DEMO.P_CA,
      Timestamp: H09,
      UsageDimension: "api_calls",
      ClientToken: "tok-1",
    };
    await agent.send(new MeterUsageCommand({ ...base, UsageQuantity: 1 }));
    const e409 = await rejects(
      agent.send(new MeterUsageCommand({ ...base, UsageQuantity: 2 })),
      IdempotencyConflictException,
    );
    expect(e409.$metadata.httpStatusCode).toBe(409);
  });

  it("envelope.error-shape: error body has the short shape name in __type, a message, and the same x-amzn-ErrorType header", async () => {
    const r = await raw(emu, BMU, caRaw(epoch(new Date("2026-07-15T12:00:00Z"))));
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ __type: "TimestampOutOfBoundsException", message: expect.any(String) });
    expect(r.headers.get("x-amzn-errortype")).toBe("TimestampOutOfBoundsException");
    expect(r.headers.get("x-amzn-requestid")).toMatch(UUID);
    await rejects(bmu(metering(emu), [ca("12:00:00", "api_calls", 1)]), TimestampOutOfBoundsException);
  });

  it("envelope.numeric-timestamps: timestamps in responses are JSON numbers", async () => {
    const r = await raw(emu, BMU, caRaw(1784106934));
    expect(typeof member(r.json, "Results", 0, "UsageRecord", "Timestamp")).toBe("number");
    emu.setFaults({ BatchMeterUsage: { unprocessed: { next: 1 } } });
    const u = await raw(emu, BMU, caRaw(1784106000, 2, { Dimension: "gb_stored" }));
    expect(typeof member(u.json, "UnprocessedRecords", 0, "Timestamp")).toBe("number");
  });

  it("envelope.fractional-timestamps: request timestamps with a fraction are accepted", async () => {
    const r = await raw(emu, BMU, caRaw(1784106000.5));
    expect(r.status).toBe(200);
    expect(member(r.json, "Results", 0, "Status")).toBe("Success");
    expect(member(r.json, "Results", 0, "UsageRecord", "Timestamp")).toBe(1784106000.5);
  });

  it("envelope.string-timestamp: a timestamp sent as a string → SerializationException", async () => {
    const r = await raw(emu, BMU, caRaw("2026-07-15T09:00:00Z"));
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("SerializationException");
    expect(emu.ledger()).toEqual([]);
  });

  it('envelope.type-mismatch: JSON type mismatch ("Quantity":"5", "Quantity":1.5) → SerializationException', async () => {
    for (const q of ["5", 1.5]) {
      const r = await raw(emu, BMU, caRaw(epoch(H09), q));
      expect(r.status).toBe(400);
      expect(member(r.json, "__type")).toBe("SerializationException");
    }
    expect(emu.ledger()).toEqual([]);
  });

  it("envelope.omit-unset: unset optional output members are omitted, not null", async () => {
    const r = await raw(emu, RESOLVE, { RegistrationToken: DEMO.T_OK });
    expect(r.status).toBe(200);
    expect(Object.keys(r.json as object).sort()).toEqual([
      "CustomerAWSAccountId",
      "LicenseArn",
      "ProductCode",
    ]);
    expect(r.text).not.toContain("null");
    await raw(emu, BMU, caRaw(epoch(H09), 10));
    const dup = await raw(emu, BMU, caRaw(epoch(H09), 12));
    expect(member(dup.json, "Results", 0, "Status")).toBe("DuplicateRecord");
    expect(member(dup.json, "Results", 0)).not.toHaveProperty("MeteringRecordId");
    expect(dup.text).not.toContain("null");
  });

  it("envelope.sigv4-scope: Region comes from the SigV4 credential scope; no Authorization header → 403 MissingAuthenticationTokenException", async () => {
    const r = await raw(emu, BMU, caRaw(epoch(H09)), { region: "eu-west-1" });
    expect(r.status).toBe(200);
    expect(emu.ledger()[0]?.region).toBe("eu-west-1");
    await bmu(metering(emu, "ap-southeast-2"), [ca(H09, "gb_stored", 1)]);
    expect(emu.ledger({ region: "ap-southeast-2" })).toHaveLength(1);
    const noAuth = await raw(emu, BMU, caRaw(epoch(H09)), { auth: false });
    expect(noAuth.status).toBe(403);
    expect(member(noAuth.json, "__type")).toBe("MissingAuthenticationTokenException");
  });

  it("envelope.case-sensitive-members: member names are case-sensitive: lower-case productCode is ignored (ProductCode absent)", async () => {
    const r = await raw(emu, BMU, {
      productCode: DEMO.P_L,
      UsageRecords: [
        { Timestamp: epoch(H09), CustomerIdentifier: DEMO.C1, Dimension: "api_calls", Quantity: 1 },
      ],
    });
    expect(r.status).toBe(400);
    expect(member(r.json, "__type")).toBe("InvalidProductCodeException");
    const ok = await raw(emu, BMU, {
      ProductCode: DEMO.P_L,
      UsageRecords: [
        {
          Timestamp: epoch(H09),
          CustomerIdentifier: DEMO.C1,
          Dimension: "api_calls",
          Quantity: 1,
          quantity: 7,
        },
      ],
    });
    expect(member(ok.json, "Results", 0, "Status")).toBe("Success");
    expect(emu.ledger()[0]?.quantity).toBe(1);
  });
});

describe("SDK plumbing", () => {
  it("custom headers reach the emulator (used by the MeterUsage/RegisterUsage tests)", async () => {
    const c = metering(emu);
    addHeaders(c, { "x-emu-resource-id": "i-abc" });
    await c.send(
      new MeterUsageCommand({
        ProductCode: DEMO.P_CA,
        Timestamp: H09,
        UsageDimension: "api_calls",
        UsageQuantity: 1,
      }),
    );
    expect(emu.ledger({ operation: "MeterUsage" })[0]?.resourceId).toBe("i-abc");
  });
});
