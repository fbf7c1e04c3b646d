// Two app instances sharing one PostgreSQL directory schema (two pools, as two hosts open it), with
// registration through the emulator: a buyer linked on one is allowed on the other, a cancellation on one
// denies on the other, and a write from the other's stale copy never undoes it. The same rules for every
// store (SQLite included) are in the core's directoryStoreConformance, given share().
import { type BuyersOptions, createBuyers } from "@marketmeter/core";
import { createGuard } from "@marketmeter/core/http";
import { sampleLicenseEvent } from "@marketmeter/core/store";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { postgresDirectoryStore } from "../src/index.js";
import { dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const HOUR = 3_600_000;
const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };

async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function tempSchema(): string {
  const schema = freshSchema();
  cleanups.unshift(() => dropSchema(schema));
  return schema;
}

let emu: Emulator;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
});
afterAll(async () => {
  await emu.close();
});
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()?.();
});

let now = Date.parse(DEMO.now);
const form = (token: string) => ({
  method: "POST",
  headers: { "content-type": "application/x-www-form-urlencoded" },
  body: Buffer.from(`x-amzn-marketplace-token=${encodeURIComponent(token)}`),
});

function instance(schema: string, extra: Partial<BuyersOptions> = {}) {
  const buyers = createBuyers({
    products: [DEMO.P_CA],
    aws: { region: "us-east-1", endpoint: emu.endpoint, credentials },
    directory: postgresDirectoryStore({ connectionString: url, schema, maxConnections: 2 }),
    clock: () => now,
    access: { finalWindowMs: HOUR, finalWindowLeadMs: 0 },
    ...extra,
  });
  cleanups.push(() => buyers.close());
  return buyers;
}

/** An instance whose directory has loaded the store. */
async function started(schema: string, extra: Partial<BuyersOptions> = {}) {
  const buyers = instance(schema, extra);
  await buyers.ready();
  return buyers;
}

/** A buyer registered, linked to tenant-1 and activated through instance `a`. */
async function activeBuyer(a: ReturnType<typeof instance>) {
  const reg = await a.register(form(DEMO.T_OK));
  await a.link(reg.id, "tenant-1");
  await a.handleEventBridge(sampleLicenseEvent("License Updated - Manufacturer", now));
  expect(a.access({ tenantId: "tenant-1" })).toMatchObject({ allowed: true });
}

describe.runIf(hasDatabase)("two instances on one PostgreSQL directory", () => {
  it("a buyer linked on A is allowed on B: at once through the guard, and by B's refresh", async () => {
    const schema = tempSchema();
    const a = await started(schema);
    const b = await started(schema, { directoryRefreshMs: 50 });
    const guard = createGuard(b, { getCustomer: () => "tenant-1" });
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({ reason: "not-registered" });
    await activeBuyer(a);
    // The guard reads through on a miss: the new buyer is never refused.
    expect(await guard([])).toMatchObject({ allowed: true });
    await waitFor(() => b.access({ tenantId: "tenant-1" }).allowed === true, "B's refresh");
  });

  it("a buyer activated through A who registers on B gets that record, not a second one", async () => {
    const schema = tempSchema();
    const a = await started(schema);
    const b = await started(schema, { directoryRefreshMs: 0 });
    await a.handleEventBridge(sampleLicenseEvent("License Updated - Manufacturer", now));
    const reg = await b.register(form(DEMO.T_OK));
    await b.link(reg.id, "tenant-1");
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({ allowed: true });
    const stored = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 1 });
    cleanups.push(() => stored.close());
    expect((await stored.loadCustomers()).map((r) => [r.status, r.tenantId])).toEqual([
      ["active", "tenant-1"],
    ]);
  });

  it("a cancellation processed on A denies on B within the refresh interval", async () => {
    const schema = tempSchema();
    const a = await started(schema);
    await activeBuyer(a);
    const b = await started(schema, { directoryRefreshMs: 50 });
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({ allowed: true });
    await a.handleEventBridge(sampleLicenseEvent("License Deprovisioned - Manufacturer", now + 1000));
    now += HOUR + 2000;
    await waitFor(() => b.access({ tenantId: "tenant-1" }).allowed === false, "B sees the cancellation");
    expect(b.access({ tenantId: "tenant-1" })).toMatchObject({ reason: "cancelled" });
  });

  it("B writing from its stale copy does not overwrite A's newer status", async () => {
    const schema = tempSchema();
    const a = await started(schema);
    await activeBuyer(a);
    // B never refreshes on its own: its copy stays the active one.
    const b = await started(schema, { directoryRefreshMs: 0 });
    await a.handleEventBridge(sampleLicenseEvent("License Deprovisioned - Manufacturer", now + 1000));
    b.noteNotSubscribed(CA1, { at: now + 2000 });
    await b.directory.settled();
    const stored = postgresDirectoryStore({ connectionString: url, schema, maxConnections: 1 });
    cleanups.push(() => stored.close());
    const [record] = await stored.loadCustomers();
    expect(record).toMatchObject({ status: "unsubscribe-pending", tenantId: "tenant-1" });
    expect(b.directory.get(record?.id as string)?.status).toBe("unsubscribe-pending");
  });
});
