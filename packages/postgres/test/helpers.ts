process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll } from "vitest";

/**
 * The test database. A test that needs PostgreSQL fails under CI when DATABASE_URL is missing (a missing
 * service must not pass as green); locally it is skipped with a note saying how to run it.
 */
export const DATABASE_URL = process.env.DATABASE_URL;
if (!DATABASE_URL) {
  if (process.env.CI)
    throw new Error("DATABASE_URL is not set: CI must start PostgreSQL (scripts/services.sh)");
  console.warn(
    "@marketmeter/postgres tests skipped: set DATABASE_URL (e.g. `set -a; source /tmp/services.env; set +a`)",
  );
}
export const hasDatabase = DATABASE_URL !== undefined;
export const url = DATABASE_URL ?? "postgres://localhost/none";

let admin: pg.Pool | undefined;
/** A pool for the tests' own setup and checks. */
export function adminPool(): pg.Pool {
  if (!admin) {
    admin = new pg.Pool({ connectionString: url, max: 2 });
    admin.on("error", () => {});
  }
  return admin;
}
afterAll(async () => {
  await admin?.end();
  admin = undefined;
});

/** A fresh schema name; the store creates it on first use. */
export function freshSchema(): string {
  return `mm_t_${randomBytes(6).toString("hex")}`;
}

export async function dropSchema(schema: string): Promise<void> {
  await adminPool().query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
}
