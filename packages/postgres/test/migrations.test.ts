import { readFileSync } from "node:fs";
import { isMarketplaceError } from "@marketmeter/core";
import { afterEach, describe, expect, it } from "vitest";
import { postgresDirectoryStore, postgresMigrations, postgresStore } from "../src/index.js";
import { defined } from "./defined.js";
import { adminPool, dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

const BOTH = [
  { version: 1, name: "init", applied: true },
  { version: 2, name: "checkpoints", applied: true },
];
const schemas: string[] = [];
const closers: Array<() => Promise<void>> = [];
function schema(): string {
  const s = freshSchema();
  schemas.push(s);
  return s;
}
function store(s: string, extra: { migrate?: boolean } = {}) {
  const st = postgresStore({ connectionString: url, schema: s, maxConnections: 2, ...extra });
  closers.push(() => st.close());
  return st;
}
afterEach(async () => {
  while (closers.length) await defined(closers.pop())();
  while (schemas.length) await dropSchema(defined(schemas.pop()));
});

async function versions(s: string): Promise<Array<{ version: number; name: string; applied: boolean }>> {
  const r = await adminPool().query(
    `SELECT version, name, applied_at IS NOT NULL AS applied FROM "${s}".schema_migrations ORDER BY version`,
  );
  return r.rows;
}

describe("postgresMigrations", () => {
  it("ships sql/001_init.sql with the same SQL, for the default schema", () => {
    const file = readFileSync(new URL("../sql/001_init.sql", import.meta.url), "utf8");
    const [v1] = postgresMigrations();
    expect(defined(v1).version).toBe(1);
    expect(file).toContain(defined(v1).sql);
    expect(defined(postgresMigrations({ schema: "billing" })[0]).sql).toContain('"billing".grains');
    const file2 = readFileSync(new URL("../sql/002_checkpoints.sql", import.meta.url), "utf8");
    const v2 = defined(postgresMigrations()[1]);
    expect(v2.version).toBe(2);
    expect(file2).toContain(v2.sql);
  });

  it("refuses a schema name that is not a plain identifier", () => {
    for (const bad of ["", "Bad", '"x"', "a;drop", "1abc", "pg_catalog", "x".repeat(64)])
      expect(() => postgresMigrations({ schema: bad })).toThrow(/schema must be/);
  });
});

describe.runIf(hasDatabase)("migrations on first use", () => {
  it("creates the tables in a fresh schema and records version 1", async () => {
    const s = schema();
    await store(s).ready();
    expect(await versions(s)).toEqual(BOTH);
    const tables = await adminPool().query(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name",
      [s],
    );
    expect(tables.rows.map((r) => r.table_name)).toEqual([
      "checkpoints",
      "customers",
      "grains",
      "registrations",
      "schema_migrations",
      "seen_events",
      "send_tokens",
    ]);
  });

  it("running again (another instance, or the SQL by hand) changes nothing", async () => {
    const s = schema();
    const a = store(s);
    await a.add([{ identityKey: "C|p|c", dimension: "d", hour: 0, quantity: 2 }], {
      now: 1,
      openFrom: 0,
      carryTo: 0,
    });
    await store(s).ready();
    for (const m of postgresMigrations({ schema: s })) await adminPool().query(m.sql);
    expect(await versions(s)).toEqual(BOTH);
    expect((await store(s).get("C|p|c\u001fd\u001f0"))?.quantity).toBe(2);
  });

  it("upgrades a schema at version 1 (an older package) to version 2, keeping its data", async () => {
    const s = schema();
    await adminPool().query(defined(postgresMigrations({ schema: s })[0]).sql);
    await adminPool().query(
      `INSERT INTO "${s}".grains (key, identity, dimension, hour, quantity, state, created_at, updated_at) VALUES ('k', 'C|p|c', 'd', 0, 4, 'pending', 1, 1)`,
    );
    const st = store(s);
    await st.add([{ identityKey: "C|p|c", dimension: "d", hour: 0, quantity: 1 }], {
      now: 1,
      openFrom: 0,
      carryTo: 0,
      checkpoint: { instance: "i", seq: 1 },
    });
    expect(await versions(s)).toEqual(BOTH);
    expect((await st.get("k"))?.quantity).toBe(4);
  });

  it("concurrent first use from several pools is safe", async () => {
    const s = schema();
    const dir = postgresDirectoryStore({ connectionString: url, schema: s, maxConnections: 2 });
    closers.push(() => dir.close());
    await Promise.all([store(s).ready(), store(s).ready(), store(s).ready(), dir.ready()]);
    expect(await versions(s)).toEqual(BOTH);
  });

  it("refuses a schema newer than the package, naming both versions", async () => {
    const s = schema();
    await store(s).ready();
    await adminPool().query(`INSERT INTO "${s}".schema_migrations (version, name) VALUES (7, 'future')`);
    const late = store(s);
    await expect(late.ready()).rejects.toSatisfy(
      (e) =>
        isMarketplaceError(e, "STORE_ERROR") &&
        /version 7, newer than this package knows \(2\)/.test(String(e)),
    );
    await expect(late.counts()).rejects.toThrow(/version 7/);
    const dir = postgresDirectoryStore({ connectionString: url, schema: s });
    closers.push(() => dir.close());
    await expect(dir.ready()).rejects.toThrow(/version 7/);
  });

  it("migrate: false uses tables a DBA created and refuses a schema without them", async () => {
    const s = schema();
    await expect(store(s, { migrate: false }).ready()).rejects.toSatisfy(
      (e) => isMarketplaceError(e, "STORE_ERROR") && /version none, this package needs 2/.test(String(e)),
    );
    const exists = await adminPool().query("SELECT 1 FROM pg_namespace WHERE nspname = $1", [s]);
    expect(exists.rowCount).toBe(0);
    for (const m of postgresMigrations({ schema: s })) await adminPool().query(m.sql);
    const st = store(s, { migrate: false });
    await st.add([{ identityKey: "C|p|c", dimension: "d", hour: 0, quantity: 5 }], {
      now: 1,
      openFrom: 0,
      carryTo: 0,
    });
    expect((await st.counts()).pending).toBe(1);
  });
});
