// Probe, run as its own process by test/postgres-terminate.test.ts: the usage and directory stores work
// in loops (checkpoints, claims, listings, directory loads) while PostgreSQL terminates all their
// backends 80 times, new connections included. Operations may fail; the process must not crash.
// Prints one JSON line: { ok, failed } (operations that succeeded and failed).
import { postgresDirectoryStore, postgresStore } from "@marketmeter/postgres";
import pg from "pg";

const base = process.env.DATABASE_URL;
const schema = process.env.PROBE_SCHEMA;
if (!base || !schema) throw new Error("DATABASE_URL and PROBE_SCHEMA are required");
const application = `mm-storm-${process.pid}`;
const url = new URL(base);
url.searchParams.set("application_name", application);

const store = postgresStore({ connectionString: url.toString(), schema, maxConnections: 3 });
const directory = postgresDirectoryStore({ connectionString: url.toString(), schema, maxConnections: 2 });
const admin = new pg.Pool({ connectionString: base, max: 1 });
admin.on("error", () => {});

await store.counts();
const HOUR = 3_600_000;
const hour = Math.floor(Date.now() / HOUR) * HOUR;
let stop = false;
let ok = 0;
let failed = 0;
const loop = async (op: () => Promise<unknown>) => {
  while (!stop)
    await op().then(
      () => ok++,
      () => failed++,
    );
};
const loops = [
  loop(() =>
    store.add([{ identityKey: `C|p|c${ok % 7}`, dimension: "api_calls", hour, quantity: 1 }], {
      now: hour + 60_000,
      openFrom: hour,
      carryTo: hour,
    }),
  ),
  loop(() => store.claim({ owner: "probe", now: hour + 2 * HOUR, leaseMs: 1_000, limit: 5 })),
  loop(() => store.list()),
  loop(async () => directory.loadCustomers()),
];
for (let i = 0; i < 80; i++) {
  await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
  await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [
    application,
  ]);
}
stop = true;
await Promise.all(loops);
console.log(JSON.stringify({ ok, failed }));
await store.close();
await directory.close();
await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await admin.end();
