import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { directoryStoreConformance, sampleCustomer, sampleRegistration } from "@marketmeter/core/testing";
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
      return {
        store,
        reopen: () => {
          store.close?.();
          store = sqliteDirectoryStore({ path, ...o });
          return store;
        },
        cleanup: () => store.close?.(),
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
