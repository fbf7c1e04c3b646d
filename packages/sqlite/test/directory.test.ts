import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBuyers, type DirectoryStore } from "@marketmeter/core";
import { directoryStoreConformance, sampleCustomer, sampleRegistration } from "@marketmeter/core/store";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { sqliteDirectoryStore } from "../src/directory.js";

const dirs: string[] = [];
function tempPath(): string {
  const dir = mkdtempSync(join(tmpdir(), "mm-directory-"));
  dirs.push(dir);
  return join(dir, "nested", "buyers.db");
}
afterEach(() => {
  while (dirs.length) rmSync(dirs.pop() as string, { recursive: true, force: true });
});

directoryStoreConformance(
  {
    name: "sqlite (in memory)",
    durable: false,
    create: (o) => {
      const store = sqliteDirectoryStore({ path: ":memory:", ...o });
      return { store, cleanup: () => store.close?.() };
    },
  },
  { describe, it },
);

directoryStoreConformance(
  {
    name: "sqlite (file)",
    durable: true,
    create: (o) => {
      const path = tempPath();
      let store = sqliteDirectoryStore({ path, ...o });
      const shared: DirectoryStore[] = [];
      return {
        store,
        reopen: () => {
          store.close?.();
          store = sqliteDirectoryStore({ path, ...o });
          return store;
        },
        share: () => {
          const other = sqliteDirectoryStore({ path, ...o });
          shared.push(other);
          return other;
        },
        cleanup: () => {
          for (const other of shared) other.close?.();
          store.close?.();
        },
      };
    },
  },
  { describe, it },
);

describe("sqlite directory store", () => {
  it("two connections on one file: a registration is claimed once", () => {
    const path = tempPath();
    const a = sqliteDirectoryStore({ path });
    const b = sqliteDirectoryStore({ path });
    a.saveRegistration(sampleRegistration());
    const first = b.claimRegistration(sampleRegistration().id, "tenant-b", Date.UTC(2026, 6, 15, 10, 31));
    const second = a.claimRegistration(sampleRegistration().id, "tenant-a", Date.UTC(2026, 6, 15, 10, 31));
    expect(first).toMatchObject({ ok: true });
    expect(second).toMatchObject({ ok: false, reason: "linked", registration: { tenantId: "tenant-b" } });
    a.close?.();
    b.close?.();
  });

  it("shares a database given by the caller, with a table prefix, and leaves it open", () => {
    const db = new Database(":memory:");
    const store = sqliteDirectoryStore({ database: db, tablePrefix: "app_" });
    store.saveCustomer(sampleCustomer());
    store.close?.();
    expect(db.prepare("SELECT count(*) AS n FROM app_customers").get()).toEqual({ n: 1 });
    db.close();
  });

  it("reports corrupt rows as STORE_ERROR", () => {
    const db = new Database(":memory:");
    const store = sqliteDirectoryStore({ database: db });
    db.prepare(
      "INSERT INTO marketmeter_customers (id, tenant_id, data, updated_at) VALUES ('x', NULL, '{\"id\":1}', 0)",
    ).run();
    expect(() => store.loadCustomers()).toThrow(expect.objectContaining({ code: "STORE_ERROR" }));
    db.close();
  });

  it("validates its options", () => {
    expect(() => sqliteDirectoryStore({ tablePrefix: "drop table;" })).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => sqliteDirectoryStore({ path: ":memory:", maxSeenEvents: 0 })).toThrow(/maxSeenEvents/);
    expect(() => sqliteDirectoryStore({ path: ":memory:", busyTimeoutMs: -1 })).toThrow(/busyTimeoutMs/);
  });
});

describe("lifecycle notifications over the SQLite directory", () => {
  const P = "pca1234567890abcdefghijkl";
  const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
  const T0 = Date.UTC(2026, 6, 15, 10, 0);
  const event = (id: string, detailType: string, time: number) => ({
    version: "0",
    id,
    "detail-type": detailType,
    source: "aws.agreement-marketplace",
    time: new Date(time).toISOString(),
    detail: {
      agreement: { id: "agmt-1" },
      acceptor: { accountId: "123456789012" },
      product: { code: P },
      license: { arn: L1 },
    },
  });
  const buyersOver = (store: ReturnType<typeof sqliteDirectoryStore>) =>
    createBuyers({
      products: [P],
      directory: store,
      clock: () => T0 + 60_000,
      aws: {
        region: "us-east-1",
        endpoint: "http://127.0.0.1:9",
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
      },
    });

  it("an event that failed to apply is applied after a restart, not answered duplicate; then it is", async () => {
    const path = tempPath();
    const first = sqliteDirectoryStore({ path });
    const b1 = buyersOver(first);
    await b1.handleEventBridge(event("ev-1", "License Updated - Manufacturer", T0));
    const fail = () => {
      throw new Error("SQLITE_FULL: database or disk is full");
    };
    first.saveCustomer = fail;
    first.forgetEvent = fail;
    const cancel = event("ev-2", "License Deprovisioned - Manufacturer", T0 + 1000);
    await expect(b1.handleEventBridge(cancel)).rejects.toMatchObject({ code: "STORE_ERROR" });
    await b1.close();

    const b2 = buyersOver(sqliteDirectoryStore({ path }));
    expect((await b2.handleEventBridge(cancel)).outcome).toBe("applied");
    expect(b2.directory.findByLicense(L1)?.status).toBe("unsubscribe-pending");
    await b2.close();

    const b3 = buyersOver(sqliteDirectoryStore({ path }));
    expect((await b3.handleEventBridge(cancel)).outcome).toBe("duplicate");
    expect(b3.directory.findByLicense(L1)?.status).toBe("unsubscribe-pending");
    await b3.close();
  });
});
