import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../src/index.js";
import { encodeCbor } from "../src/wire/cbor.js";
import { authHeader, bmu, ca, DEMO, H09, metering, startTestEmulator } from "./helpers.js";

let emu: Emulator;
beforeAll(async () => {
  emu = await startTestEmulator();
});
afterAll(async () => {
  await emu.close();
});

const TARGETS = [
  "AWSMPMeteringService.BatchMeterUsage",
  "AWSMPMeteringService.MeterUsage",
  "AWSMPMeteringService.RegisterUsage",
  "AWSMPMeteringService.ResolveCustomer",
  "AWSMPEntitlementService.GetEntitlements",
];

const deep = (n: number, leaf: string) => "[".repeat(n) + leaf + "]".repeat(n);

/** Bodies: random JSON, random bytes, huge strings, deep nesting, wrong types in real member names. */
const body = fc.oneof(
  fc.json().map((s) => s),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
  fc.string({ maxLength: 200 }),
  fc.integer({ min: 1, max: 5000 }).map((n) => deep(n, "1")),
  fc.integer({ min: 1, max: 3000 }).map((n) => `{"UsageRecords":${deep(n, "{}")}}`),
  fc.integer({ min: 0, max: 200_000 }).map((n) => JSON.stringify({ RegistrationToken: "x".repeat(n) })),
  fc
    .record(
      {
        UsageRecords: fc.oneof(
          fc.jsonValue(),
          fc.array(
            fc.dictionary(
              fc.constantFrom(
                "Timestamp",
                "Dimension",
                "Quantity",
                "LicenseArn",
                "CustomerAWSAccountId",
                "CustomerIdentifier",
                "UsageAllocations",
              ),
              fc.jsonValue(),
            ),
            { maxLength: 30 },
          ),
        ),
        ProductCode: fc.jsonValue(),
        Timestamp: fc.jsonValue(),
        UsageDimension: fc.jsonValue(),
        UsageQuantity: fc.jsonValue(),
        PublicKeyVersion: fc.jsonValue(),
        Nonce: fc.jsonValue(),
        RegistrationToken: fc.jsonValue(),
        Filter: fc.jsonValue(),
        MaxResults: fc.jsonValue(),
        NextToken: fc.jsonValue(),
        ClientToken: fc.jsonValue(),
        DryRun: fc.jsonValue(),
      },
      { requiredKeys: [] },
    )
    .map((o) => JSON.stringify(o)),
  fc.jsonValue().map((v) => encodeCbor(v)),
);

const headerValue = fc.string({ maxLength: 80 }).map((s) => s.replace(/[^\x20-\x7e]/g, "a"));
const headers = fc.record(
  {
    "x-amz-target": fc.oneof(fc.constantFrom(...TARGETS), headerValue),
    authorization: fc.oneof(
      fc.constantFrom(authHeader(), authHeader("eu-west-1"), authHeader("mx-central-1")),
      headerValue,
    ),
    "content-type": fc.oneof(fc.constant("application/x-amz-json-1.1"), headerValue),
    "amz-sdk-request": headerValue,
    "x-emu-resource-id": headerValue,
    "x-emu-resource-region": headerValue,
    "x-emu-platform": fc.oneof(fc.constantFrom("ecs", "ec2", "agentcore"), headerValue),
    "x-emu-account-id": headerValue,
  },
  { requiredKeys: [] },
);

const path = fc.oneof(
  fc.constant("/"),
  fc.constant("/service/AWSMPEntitlementService/operation/GetEntitlements"),
  fc.constantFrom(
    "/service/AWSMPMeteringService/operation/BatchMeterUsage",
    "/service/x/operation/y",
    "/foo",
  ),
);

function wellFormed(status: number, text: string, contentType: string | null): void {
  expect([200, 400, 403, 404, 409, 412, 500]).toContain(status);
  if (status === 200 || !contentType?.includes("json")) return;
  const json = JSON.parse(text);
  if ("__type" in json) {
    expect(typeof json.__type).toBe("string");
    expect(typeof json.message).toBe("string");
  } else {
    expect(typeof json.error?.code).toBe("string");
  }
}

describe("property: the emulator never crashes and always answers well-formed", () => {
  it("random bodies and headers on every operation", async () => {
    await fc.assert(
      fc.asyncProperty(path, headers, body, async (p, h, b) => {
        const res = await fetch(`${emu.endpoint}${p}`, { method: "POST", headers: h, body: b });
        const text = await res.text();
        wellFormed(res.status, text, res.headers.get("content-type"));
        if (res.status !== 200) expect(res.headers.get("x-amzn-requestid") ?? "control").toBeTruthy();
      }),
      { numRuns: 250, seed: 20260715 },
    );
    // No fault was injected, so a 500 would be a bug in a handler.
    expect(emu.rejected().filter((r) => r.httpStatus === 500)).toEqual([]);
    const out = await bmu(metering(emu), [ca(H09, "api_calls", 1, DEMO.L2)]);
    expect(out.Results?.[0]?.Status).toMatch(/Success|DuplicateRecord/);
  });

  it("random requests to the control API", async () => {
    const route = fc.constantFrom(
      "clock",
      "tokens",
      "buyers/subscribe",
      "buyers/unsubscribe",
      "buyers/deprovision",
      "buyers/suspend",
      "entitlements",
      "faults",
      "profile",
      "fixtures",
      "webhooks",
      "ledger?hour=zzz",
      "duplicates",
      "nope",
    );
    await fc.assert(
      fc.asyncProperty(
        route,
        fc.constantFrom("GET", "POST"),
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string({ maxLength: 100 }),
        ),
        async (r, method, b) => {
          const res = await fetch(`${emu.endpoint}/_emulator/${r}`, {
            method,
            ...(method === "POST" ? { body: b } : {}),
          });
          const text = await res.text();
          expect([200, 400, 404, 409, 503]).toContain(res.status);
          if (res.headers.get("content-type")?.includes("json")) JSON.parse(text);
        },
      ),
      { numRuns: 150, seed: 42 },
    );
    // Whatever the fuzzing did to fixtures, faults or the clock, a reset brings a working emulator back.
    await fetch(`${emu.endpoint}/_emulator/reset`, { method: "POST" });
    const out = await bmu(metering(emu), [ca(H09, "api_calls", 1)]);
    expect(out.Results?.[0]?.Status).toBe("Success");
  });
});
