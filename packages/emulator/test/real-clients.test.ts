import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  GetEntitlementsCommand,
  InvalidParameterException,
  MarketplaceEntitlementServiceClient,
} from "@aws-sdk/client-marketplace-entitlement-service";
import {
  InvalidProductCodeException,
  InvalidPublicKeyVersionException,
  InvalidTokenException,
  MeterUsageCommand,
  RegisterUsageCommand,
  ResolveCustomerCommand,
  TimestampOutOfBoundsException,
} from "@aws-sdk/client-marketplace-metering";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Emulator } from "../src/index.js";
import { bmu, ca, credentials, DEMO, H09, metering, rejects, startTestEmulator } from "./helpers.js";

let emu: Emulator;
let home: string;
beforeAll(async () => {
  emu = await startTestEmulator();
  home = mkdtempSync(join(tmpdir(), "emu-home-"));
});
afterAll(async () => {
  await emu.close();
  rmSync(home, { recursive: true, force: true });
});

/** Runs a program with dummy credentials and a clean HOME; resolves even on a non-zero exit. */
function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        timeout: 60_000,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: home,
          AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
          AWS_SECRET_ACCESS_KEY: "secret",
          AWS_DEFAULT_REGION: "us-east-1",
          AWS_EC2_METADATA_DISABLED: "true",
          AWS_CONFIG_FILE: join(home, "config"),
          AWS_SHARED_CREDENTIALS_FILE: join(home, "credentials"),
          ...(process.env.PYENV_ROOT ? { PYENV_ROOT: process.env.PYENV_ROOT } : {}),
          ...(process.env.PYENV_VERSION ? { PYENV_VERSION: process.env.PYENV_VERSION } : {}),
        },
      },
      (err, stdout, stderr) => {
        const code =
          err && typeof (err as { code?: unknown }).code === "number"
            ? ((err as { code: number }).code as number)
            : err
              ? -1
              : 0;
        if (err && code === -1) reject(new Error(`${cmd} could not run: ${err.message}\n${stderr}`));
        else resolve({ code, stdout: stdout.toString(), stderr: stderr.toString() });
      },
    );
  });
}

const BOTO_SCRIPT = `
import json, sys, datetime, urllib.request
import boto3, botocore
from botocore.exceptions import ClientError
ep = sys.argv[1]
d = json.loads(sys.argv[2])
m = boto3.client("meteringmarketplace", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
e = boto3.client("marketplace-entitlement", endpoint_url=ep, region_name="us-east-1", aws_access_key_id="AKIDEXAMPLE", aws_secret_access_key="secret")
h09 = datetime.datetime(2026, 7, 15, 9, 0, tzinfo=datetime.timezone.utc)
out = {}
def call(name, fn):
    try:
        r = fn()
        r.pop("ResponseMetadata", None)
        out[name] = {"ok": json.loads(json.dumps(r, default=str))}
    except ClientError as ex:
        out[name] = {"error": ex.response["Error"]["Code"], "status": ex.response["ResponseMetadata"]["HTTPStatusCode"]}
rec = {"Timestamp": h09, "CustomerAWSAccountId": d["A1"], "LicenseArn": d["L1"], "Dimension": "api_calls", "Quantity": 5}
call("bmu", lambda: m.batch_meter_usage(UsageRecords=[rec]))
call("bmu_err", lambda: m.batch_meter_usage(UsageRecords=[dict(rec, Timestamp=datetime.datetime(2026, 7, 15, 12, 0, tzinfo=datetime.timezone.utc))]))
call("meter", lambda: m.meter_usage(ProductCode=d["P_CA"], Timestamp=h09, UsageDimension="gb_stored", UsageQuantity=2))
call("meter_err", lambda: m.meter_usage(ProductCode="zzzz1234567890abcdefghijk", Timestamp=h09, UsageDimension="gb_stored", UsageQuantity=2))
call("register", lambda: m.register_usage(ProductCode=d["P_CA"], PublicKeyVersion=1, Nonce="n1"))
call("register_err", lambda: m.register_usage(ProductCode=d["P_CA"], PublicKeyVersion=99))
call("resolve", lambda: m.resolve_customer(RegistrationToken=d["T_OK"]))
call("resolve_err", lambda: m.resolve_customer(RegistrationToken="abc"))
call("ent", lambda: e.get_entitlements(ProductCode=d["P_OTHER"]))
call("ent_err", lambda: e.get_entitlements(ProductCode="zzzz1234567890abcdefghijk"))
# Smithy RPC v2 CBOR, encoded and decoded by botocore's own codec.
from botocore.serialize import create_serializer
from botocore.parsers import create_parser
from botocore.awsrequest import AWSRequest
op = e.meta.service_model.operation_model("GetEntitlements")
def cbor(params):
    req = create_serializer("smithy-rpc-v2-cbor").serialize_to_request(params, op)
    headers = dict(req["headers"])
    headers["Authorization"] = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260715/us-east-1/aws-marketplace/aws4_request, SignedHeaders=host, Signature=00"
    r = urllib.request.Request(ep + req["url_path"], data=req["body"], headers=headers, method="POST")
    try:
        resp = urllib.request.urlopen(r)
        status, body, hdrs = resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        status, body, hdrs = err.code, err.read(), {k.lower(): v for k, v in err.headers.items()}
    parsed = create_parser("smithy-rpc-v2-cbor").parse({"status_code": status, "headers": hdrs, "body": body}, op.output_shape)
    parsed.pop("ResponseMetadata", None)
    return {"status": status, "contentType": hdrs.get("content-type"), "protocol": hdrs.get("smithy-protocol"), "parsed": json.loads(json.dumps(parsed, default=str))}
out["cbor"] = cbor({"ProductCode": d["P_OTHER"], "MaxResults": 1})
out["cbor_err"] = cbor({"ProductCode": d["P_OTHER"], "Filter": {"CUSTOMER_IDENTIFIER": ["x"], "CUSTOMER_AWS_ACCOUNT_ID": ["1"]}})
print(json.dumps(out))
`;

describe("boto3 (python3) against the emulator", () => {
  it("all five operations succeed and map a modeled error each; RPC v2 CBOR round-trips through botocore's codec", async () => {
    const r = await run(process.env.MM_PYTHON ?? "python3", [
      "-c",
      BOTO_SCRIPT,
      emu.endpoint,
      JSON.stringify(DEMO),
    ]);
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.bmu.ok.Results[0].Status).toBe("Success");
    expect(out.bmu_err).toEqual({ error: "TimestampOutOfBoundsException", status: 400 });
    expect(out.meter.ok.MeteringRecordId).toMatch(/^[0-9a-f-]{36}$/);
    expect(out.meter_err).toEqual({ error: "InvalidProductCodeException", status: 400 });
    expect(out.register.ok.Signature.split(".")).toHaveLength(3);
    expect(out.register_err).toEqual({ error: "InvalidPublicKeyVersionException", status: 400 });
    expect(out.resolve.ok).toEqual({
      CustomerAWSAccountId: DEMO.A1,
      LicenseArn: DEMO.L1,
      ProductCode: DEMO.P_CA,
    });
    expect(out.resolve_err).toEqual({ error: "InvalidTokenException", status: 400 });
    expect(out.ent.ok.Entitlements[0]).toMatchObject({
      ProductCode: DEMO.P_OTHER,
      Dimension: "seats",
      Value: { IntegerValue: 25 },
    });
    expect(out.ent_err).toEqual({ error: "InvalidParameterException", status: 400 });
    expect(out.cbor).toMatchObject({ status: 200, contentType: "application/cbor" });
    expect(out.cbor.parsed.Entitlements[0]).toMatchObject({
      Dimension: "seats",
      Value: { IntegerValue: 25 },
      LicenseArn: DEMO.L4,
    });
    expect(out.cbor.parsed.Entitlements[0].ExpirationDate).toMatch(/^2027-06-15 10:30:00/);
    expect(out.cbor.protocol).toBe("rpc-v2-cbor");
    expect(out.cbor_err.status).toBe(400);
    expect(out.cbor_err.parsed.Error?.Code).toBe("InvalidParameterException");
    expect(
      emu
        .calls()
        .some((c) => c.protocol === "rpcv2Cbor" && c.operation === "GetEntitlements" && c.status === 200),
    ).toBe(true);
    expect(emu.ledger({ productCode: DEMO.P_CA, dimension: "api_calls" }).map((x) => x.quantity)).toContain(
      5,
    );
  });
});

describe("AWS CLI against the emulator", () => {
  const aws = (...args: string[]) =>
    run(process.env.MM_AWS ?? "aws", [...args, "--endpoint-url", emu.endpoint, "--output", "json"]);
  const rec = (ts: string) =>
    JSON.stringify([
      {
        Timestamp: ts,
        CustomerAWSAccountId: DEMO.A1,
        LicenseArn: DEMO.L2,
        Dimension: "gb_stored",
        Quantity: 3,
      },
    ]);

  it("the installed CLI knows LicenseArn on usage records", async () => {
    const help = await run(process.env.MM_AWS ?? "aws", ["meteringmarketplace", "batch-meter-usage", "help"]);
    expect(help.stdout).toContain("LicenseArn");
  });

  it("all five operations succeed and map a modeled error each", async () => {
    const [bmuOk, bmuErr, meterOk, meterErr, regOk, regErr, resOk, resErr, entOk, entErr] = await Promise.all(
      [
        aws("meteringmarketplace", "batch-meter-usage", "--usage-records", rec("2026-07-15T09:00:00Z")),
        aws("meteringmarketplace", "batch-meter-usage", "--usage-records", rec("2026-07-15T12:00:00Z")),
        aws(
          "meteringmarketplace",
          "meter-usage",
          "--product-code",
          DEMO.P_CA,
          "--timestamp",
          "2026-07-15T08:00:00Z",
          "--usage-dimension",
          "api_calls",
          "--usage-quantity",
          "4",
        ),
        aws(
          "meteringmarketplace",
          "meter-usage",
          "--product-code",
          DEMO.P_CA,
          "--timestamp",
          "2026-07-15T08:00:00Z",
          "--usage-dimension",
          "NOPE",
          "--usage-quantity",
          "4",
        ),
        aws(
          "meteringmarketplace",
          "register-usage",
          "--product-code",
          DEMO.P_CA,
          "--public-key-version",
          "1",
        ),
        aws(
          "meteringmarketplace",
          "register-usage",
          "--product-code",
          "zzzz1234567890abcdefghijk",
          "--public-key-version",
          "1",
        ),
        aws("meteringmarketplace", "resolve-customer", "--registration-token", DEMO.T_LEG),
        aws("meteringmarketplace", "resolve-customer", "--registration-token", DEMO.T_OLD),
        aws(
          "marketplace-entitlement",
          "get-entitlements",
          "--product-code",
          DEMO.P_OTHER,
          "--filter",
          `CUSTOMER_AWS_ACCOUNT_ID=${DEMO.A1}`,
        ),
        aws(
          "marketplace-entitlement",
          "get-entitlements",
          "--product-code",
          DEMO.P_OTHER,
          "--max-results",
          "26",
        ),
      ],
    );
    expect(bmuOk.code).toBe(0);
    expect(JSON.parse(bmuOk.stdout).Results[0].Status).toBe("Success");
    expect(bmuErr.code).not.toBe(0);
    expect(bmuErr.stderr).toContain("TimestampOutOfBoundsException");
    expect(meterOk.code).toBe(0);
    expect(JSON.parse(meterOk.stdout).MeteringRecordId).toBeTruthy();
    expect(meterErr.stderr).toContain("InvalidUsageDimensionException");
    expect(regOk.code).toBe(0);
    expect(JSON.parse(regOk.stdout).Signature).toBeTruthy();
    expect(regErr.stderr).toContain("InvalidProductCodeException");
    expect(resOk.code).toBe(0);
    expect(JSON.parse(resOk.stdout)).toMatchObject({
      CustomerIdentifier: DEMO.C1,
      CustomerAWSAccountId: DEMO.A3,
      ProductCode: DEMO.P_L,
    });
    expect(resErr.stderr).toContain("ExpiredTokenException");
    expect(entOk.code).toBe(0);
    expect(JSON.parse(entOk.stdout).Entitlements).toHaveLength(1);
    expect(entErr.code).not.toBe(0);
    expect(entErr.stderr).toContain("InvalidParameterException");
  });
});

describe("AWS SDK for JavaScript v3: all five operations", () => {
  it("succeed and map a modeled error each", async () => {
    const m = metering(emu);
    expect((await bmu(m, [ca(H09, "api_calls", 8, DEMO.L2)])).Results?.[0]?.Status).toBe("Success");
    await rejects(
      bmu(m, [ca(new Date("2026-07-16T00:00:00Z"), "api_calls", 8, DEMO.L2)]),
      TimestampOutOfBoundsException,
    );
    expect(
      (
        await m.send(
          new MeterUsageCommand({
            ProductCode: DEMO.P_CA,
            Timestamp: H09,
            UsageDimension: "api_calls",
            UsageQuantity: 1,
          }),
        )
      ).MeteringRecordId,
    ).toBeTruthy();
    await rejects(
      m.send(new MeterUsageCommand({ ProductCode: "zz", Timestamp: H09, UsageDimension: "api_calls" })),
      InvalidProductCodeException,
    );
    expect(
      (await m.send(new RegisterUsageCommand({ ProductCode: DEMO.P_CA, PublicKeyVersion: 1 }))).Signature,
    ).toBeTruthy();
    await rejects(
      m.send(new RegisterUsageCommand({ ProductCode: DEMO.P_CA, PublicKeyVersion: 7 })),
      InvalidPublicKeyVersionException,
    );
    expect((await m.send(new ResolveCustomerCommand({ RegistrationToken: DEMO.T_OK }))).LicenseArn).toBe(
      DEMO.L1,
    );
    await rejects(m.send(new ResolveCustomerCommand({ RegistrationToken: "nope" })), InvalidTokenException);
    const e = new MarketplaceEntitlementServiceClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      maxAttempts: 1,
    });
    const ent = await e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER }));
    expect(ent.Entitlements?.[0]).toMatchObject({
      Dimension: "seats",
      Value: { IntegerValue: 25 },
      ExpirationDate: new Date("2027-06-15T10:30:00Z"),
    });
    await rejects(
      e.send(new GetEntitlementsCommand({ ProductCode: DEMO.P_OTHER, MaxResults: 0 })),
      InvalidParameterException,
    );
  });
});
