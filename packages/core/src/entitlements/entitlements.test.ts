process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Directory, memoryDirectoryStore } from "../directory/index.js";
import { silentLogger } from "../runtime/index.js";
import { activeEntitlements, EntitlementCache, entitlementFilter, toEntitlement } from "./entitlements.js";

// A scripted GetEntitlements endpoint for shapes the emulator does not produce (an empty page that
// still carries a NextToken, a NextToken that repeats), spoken over the real awsJson1_1 wire.
let server: Server;
let client: MarketplaceEntitlementServiceClient;
let pages: Record<string, { Entitlements: unknown[]; NextToken?: string }> = {};
const requests: Array<{ NextToken?: string; Filter?: unknown; ProductCode?: string }> = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const input = JSON.parse(Buffer.concat(chunks).toString() || "{}");
      requests.push(input);
      const page = pages[input.NextToken ?? ""];
      res.writeHead(200, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": "r" });
      res.end(JSON.stringify(page ?? { Entitlements: [] }));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  client = new MarketplaceEntitlementServiceClient({
    region: "us-east-1",
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

const P = "poth1234567890abcdefghijk";
const ID = {
  productCode: P,
  customerAWSAccountId: "123456789012",
  licenseArn: "arn:aws:license-manager::294406891311:license:l-3123456789abcdef0123456789abcdef",
};

function cache(maxPages = 10) {
  return new EntitlementCache({
    client,
    directory: new Directory(memoryDirectoryStore()),
    clock: () => Date.UTC(2026, 6, 15),
    logger: silentLogger,
    ttlMs: 60_000,
    maxPages,
    maxCached: 2,
  });
}

describe("GetEntitlements pagination", () => {
  it("follows NextToken through empty pages and filters by license", async () => {
    requests.length = 0;
    pages = {
      "": { Entitlements: [], NextToken: "t1" },
      t1: { Entitlements: [], NextToken: "t2" },
      t2: { Entitlements: [{ ProductCode: P, Dimension: "seats", Value: { IntegerValue: 5 } }] },
    };
    const snap = await cache().get(ID);
    expect(snap.items).toEqual([{ productCode: P, dimension: "seats", value: 5 }]);
    expect(requests.map((r) => r.NextToken)).toEqual([undefined, "t1", "t2"]);
    expect(requests[0]?.Filter).toEqual({ LICENSE_ARN: [ID.licenseArn] });
  });

  it("stops on a repeated NextToken and at maxPages", async () => {
    requests.length = 0;
    pages = { "": { Entitlements: [], NextToken: "again" }, again: { Entitlements: [], NextToken: "again" } };
    expect((await cache().get(ID)).items).toEqual([]);
    expect(requests).toHaveLength(2);
    requests.length = 0;
    pages = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [
        i === 0 ? "" : `p${i}`,
        { Entitlements: [], NextToken: `p${i + 1}` },
      ]),
    );
    await cache(4).get(ID);
    expect(requests).toHaveLength(4);
  });

  it("caches identities without a directory record (bounded) and coalesces concurrent fetches", async () => {
    requests.length = 0;
    pages = { "": { Entitlements: [{ Dimension: "seats", Value: { DoubleValue: 1.5 } }] } };
    const c = cache();
    const [a, b] = await Promise.all([c.get(ID), c.get(ID)]);
    expect(a).toBe(b);
    await c.get(ID);
    expect(requests).toHaveLength(1);
    expect(a.items[0]).toEqual({ productCode: P, dimension: "seats", value: 1.5 });
  });

  it("maps AWS failures to coded errors", async () => {
    const down = new EntitlementCache({
      client: new MarketplaceEntitlementServiceClient({
        region: "us-east-1",
        endpoint: "http://127.0.0.1:9",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
        maxAttempts: 1,
      }),
      directory: new Directory(memoryDirectoryStore()),
      clock: Date.now,
      logger: silentLogger,
      ttlMs: 1,
      maxPages: 1,
      maxCached: 1,
    });
    await expect(down.get(ID)).rejects.toMatchObject({ code: "AWS_UNAVAILABLE" });
  });
});

describe("entitlement helpers", () => {
  it("chooses the filter by identity mode", () => {
    expect(entitlementFilter({ productCode: P, customerIdentifier: "c" })).toEqual({
      CUSTOMER_IDENTIFIER: ["c"],
    });
    expect(entitlementFilter({ productCode: P, customerAWSAccountId: "123456789012" })).toEqual({
      CUSTOMER_AWS_ACCOUNT_ID: ["123456789012"],
    });
  });

  it("tolerates missing fields (no ExpirationDate, no Value, no Dimension)", () => {
    expect(toEntitlement({ Dimension: "d" }, P)).toEqual({ productCode: P, dimension: "d" });
    expect(toEntitlement({ Value: { IntegerValue: 1 } }, P)).toBeUndefined();
    expect(toEntitlement({ Dimension: "d", ExpirationDate: new Date(Number.NaN) }, P)).toEqual({
      productCode: P,
      dimension: "d",
    });
    expect(activeEntitlements([], 0)).toEqual([]);
  });
});
