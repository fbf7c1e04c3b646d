// PostgreSQL for the chaos test: one schema per run, and instances tagged with an application_name so
// that terminating their backends never touches anyone else's connections on a shared server.
import { postgresDirectoryStore, postgresStore } from "@marketmeter/postgres";
import pg from "pg";
import type { StoreKit, StoreSettings } from "./stores.js";

function setting(settings: StoreSettings, name: string): string {
  const v = settings[name];
  if (v === undefined) throw new Error(`postgres chaos settings lack "${name}"`);
  return v;
}

export const postgresKit: StoreKit = {
  env: "DATABASE_URL",
  async prepare(url, runId) {
    const schema = `mm_chaos_${runId}`;
    const application = `mm-chaos-${runId}`;
    const app = new URL(url);
    app.searchParams.set("application_name", application);
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    admin.on("error", () => {});
    return {
      settings: { connectionString: app.toString(), schema },
      async disrupt() {
        const r = await admin.query<{ n: string }>(
          "SELECT count(pg_terminate_backend(pid))::text AS n FROM pg_stat_activity WHERE application_name = $1",
          [application],
        );
        return Number(r.rows[0]?.n ?? 0);
      },
      async cleanup() {
        await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await admin.end();
      },
    };
  },
  openStore: (s) =>
    postgresStore({
      connectionString: setting(s, "connectionString"),
      schema: setting(s, "schema"),
      maxConnections: 3,
      connectTimeoutMs: 5_000,
    }),
  openDirectory: (s) =>
    postgresDirectoryStore({
      connectionString: setting(s, "connectionString"),
      schema: setting(s, "schema"),
      maxConnections: 2,
      connectTimeoutMs: 5_000,
    }),
};
