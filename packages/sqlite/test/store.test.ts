import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isMarketplaceError } from "@marketmeter/core";
import { storeConformance } from "@marketmeter/core/store";
import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";

storeConformance(
  {
    name: "sqlite",
    durable: true,
    async create() {
      const dir = mkdtempSync(join(tmpdir(), "mm-sqlite-"));
      const path = join(dir, "usage.db");
      return {
        store: sqliteStore({ path }),
        open: async () => sqliteStore({ path }),
        cleanup: async () => rmSync(dir, { recursive: true, force: true }),
      };
    },
  },
  { describe, it, fc },
);

describe("sqliteStore", () => {
  it("validates options with coded errors", () => {
    expect(() => sqliteStore({ tablePrefix: "x; drop" })).toThrow(/tablePrefix/);
    expect(() => sqliteStore({ busyTimeoutMs: -5 })).toThrow(/busyTimeoutMs/);
    expect(() => sqliteStore({ nope: 1 } as never)).toThrow(/unknown option/);
  });

  it("refuses path and database together with a coded error", () => {
    const db = new Database(":memory:");
    let caught: unknown;
    try {
      sqliteStore({ path: ":memory:", database: db });
    } catch (e) {
      caught = e;
    } finally {
      db.close();
    }
    expect(isMarketplaceError(caught, "INVALID_CONFIG"), String(caught)).toBe(true);
    expect((caught as Error).message).toMatch(/path or database, not both/);
  });

  it("an in-memory database is not durable; a file is", async () => {
    const m = sqliteStore({ path: ":memory:" });
    expect(m.durable).toBe(false);
    await m.close();
    const dir = mkdtempSync(join(tmpdir(), "mm-sqlite-"));
    const f = sqliteStore({ path: join(dir, "nested", "u.db") });
    expect(f.durable).toBe(true);
    await f.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("shares a caller's database under its own table prefix and leaves it open", async () => {
    const db = new Database(":memory:");
    const s = sqliteStore({ database: db, tablePrefix: "mm_" });
    await s.add([{ identityKey: "C|p|c", dimension: "d", hour: 0, quantity: 2 }], {
      now: 1,
      openFrom: 0,
      carryTo: 0,
    });
    expect(db.prepare("SELECT quantity FROM mm_grains").get()).toEqual({ quantity: 2 });
    await s.close();
    expect(db.open).toBe(true);
    await expect(s.counts()).rejects.toSatisfy((e) => isMarketplaceError(e, "STORE_ERROR"));
    db.close();
  });

  it("adds the fencing token column to a file written before it existed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "mm-sqlite-"));
    const path = join(dir, "usage.db");
    const old = new Database(path);
    old.exec(`
      CREATE TABLE marketmeter_grains (
        key TEXT PRIMARY KEY, identity TEXT NOT NULL, dimension TEXT NOT NULL, hour INTEGER NOT NULL,
        quantity INTEGER NOT NULL, allocations TEXT, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER, lease_owner TEXT, lease_until INTEGER,
        uncertain INTEGER NOT NULL DEFAULT 0, metering_record_id TEXT, reason TEXT, last_error TEXT,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, closed_at INTEGER, settled_at INTEGER
      ) WITHOUT ROWID;
      INSERT INTO marketmeter_grains (key, identity, dimension, hour, quantity, state, lease_owner, lease_until,
        created_at, updated_at) VALUES ('k', 'C|p|c', 'd', 0, 4, 'closed', 'old', 5, 1, 1);
    `);
    old.close();
    try {
      const s = sqliteStore({ path });
      expect((await s.get("k"))?.leaseToken).toBe(0);
      const [g] = await s.claim({ owner: "new", now: 10, leaseMs: 1000, limit: 1 });
      // The old holder's lease ran out without a settle: it may have sent the record.
      expect(g).toMatchObject({ key: "k", quantity: 4, leaseToken: 1, uncertain: true });
      expect(await s.settle([{ key: "k", leaseToken: 1, state: "sent" }], { owner: "new", now: 11 })).toEqual(
        {
          applied: 1,
          refused: [],
        },
      );
      await s.close();
      const again = sqliteStore({ path });
      expect(await again.get("k")).toMatchObject({ state: "sent", leaseToken: 1 });
      await again.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
