// The built CLI against PostgreSQL: a store filled by a real marketplace, a schema from a newer version,
// and a schema that holds no store.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { postgresStore } from "@marketmeter/postgres";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkBuilt, cli, fill } from "./helpers.js";

// A test that needs PostgreSQL fails under CI when DATABASE_URL is missing (a missing service must not
// pass as green); locally it is skipped.
const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL && process.env.CI)
  throw new Error("DATABASE_URL is not set: CI must start PostgreSQL (scripts/services.sh)");

describe.runIf(DATABASE_URL !== undefined)("PostgreSQL store", () => {
  const url = DATABASE_URL as string;
  const schema = `mm_cli_${randomBytes(5).toString("hex")}`;
  let emu: Emulator;
  let dir: string;
  let admin: pg.Pool;

  beforeAll(async () => {
    checkBuilt();
    emu = await startEmulator({ port: 0, config: demoConfig({ now: Date.now() }), seed: 18 });
    dir = mkdtempSync(join(tmpdir(), "marketmeter-cli-pg-"));
    admin = new pg.Pool({ connectionString: url, max: 1 });
    await fill(postgresStore({ connectionString: url, schema }), emu.endpoint);
  });

  afterAll(async () => {
    await admin?.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin?.end();
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => cli(args, { cwd: dir });
  const password = new URL(url).password;

  it("status and usage read the store the app wrote", async () => {
    const s = await run(["status", "--store", url, "--schema", schema, "--json"]);
    expect(s.code).toBe(1);
    expect(JSON.parse(s.stdout).counts).toMatchObject({ sent: 2, rejected: 1, pending: 1 });
    const u = await run([
      "usage",
      "--store",
      url,
      "--schema",
      schema,
      "--customer",
      DEMO.A1,
      "--from",
      "-1d",
      "--json",
    ]);
    expect(u.code).toBe(0);
    const rows = JSON.parse(u.stdout).rows as Array<{ state: string; meteringRecordId: string }>;
    expect(rows.filter((r) => r.state === "sent").every((r) => r.meteringRecordId.length > 0)).toBe(true);
    expect(rows).toHaveLength(3);
  });

  it("names a schema that holds no store (exit 3) and never creates one", async () => {
    const missing = `${schema}_none`;
    const r = await run(["status", "--store", url, "--schema", missing]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`no marketmeter store in schema "${missing}"`);
    if (password) expect(r.stderr).not.toContain(password);
    const found = await admin.query("SELECT 1 FROM information_schema.schemata WHERE schema_name = $1", [
      missing,
    ]);
    expect(found.rowCount).toBe(0);
  });

  it("names the setting to check for a database that does not exist (exit 3)", async () => {
    const wrong = new URL(url);
    wrong.pathname = "/mm_no_such_database";
    const r = await run(["status", "--store", wrong.href]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("check the database name");
    if (password) expect(r.stderr).not.toContain(password);
  });

  it("surfaces the migration check's refusal of a schema written by a newer version (exit 3)", async () => {
    await admin.query(
      `INSERT INTO "${schema}".schema_migrations (version, name) VALUES (999, 'from the future')`,
    );
    try {
      const r = await run(["status", "--store", url, "--schema", schema]);
      expect(r.code).toBe(3);
      expect(r.stderr).toMatch(/version 999, newer than this package knows/);
      expect(r.stderr).toContain("upgrade @marketmeter/postgres");
    } finally {
      await admin.query(`DELETE FROM "${schema}".schema_migrations WHERE version = 999`);
    }
  });
});
