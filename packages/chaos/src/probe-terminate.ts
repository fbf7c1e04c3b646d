// Probe, run as its own process by test/postgres-terminate.test.ts: PostgreSQL terminates the backend of
// a connection the store holds inside a transaction (as pg_terminate_backend, a failover or a restart
// do). That operation may fail, but the process must survive it and the next one must work.
// Prints one JSON line: { first, second } (each "ok" or an error code).
import { postgresStore } from "@marketmeter/postgres";
import pg from "pg";

const url = process.env.DATABASE_URL;
const schema = process.env.PROBE_SCHEMA;
if (!url || !schema) throw new Error("DATABASE_URL and PROBE_SCHEMA are required");

const pool = new pg.Pool({ connectionString: url, max: 2 });
pool.on("error", () => {});
const admin = new pg.Pool({ connectionString: url, max: 1 });
admin.on("error", () => {});

let armed = false;
// The app's pool as the store sees it; once armed, the next transaction's connection is terminated by
// the server right after its BEGIN, while the store still holds it.
const appPool = {
  query: (text: string, values?: unknown[]) => pool.query(text, values),
  async connect() {
    const client = await pool.connect();
    if (armed) {
      armed = false;
      const query = client.query.bind(client) as (
        text: string,
        values?: unknown[],
      ) => Promise<pg.QueryResult>;
      const pid = (client as unknown as { processID: number }).processID;
      (client as unknown as { query: typeof query }).query = async (text, values) => {
        const r = await query(text, values);
        if (text === "BEGIN") {
          const ended = new Promise((resolve) => client.once("end", resolve));
          await admin.query("SELECT pg_terminate_backend($1)", [pid]);
          await ended;
        }
        return r;
      };
    }
    return client;
  },
};

const store = postgresStore({ pool: appPool, schema });
const HOUR = 3_600_000;
const hour = Math.floor(Date.now() / HOUR) * HOUR;
const add = () =>
  store
    .add([{ identityKey: "C|p|probe", dimension: "api_calls", hour, quantity: 1 }], {
      now: hour + 60_000,
      openFrom: hour,
      carryTo: hour,
    })
    .then(
      () => "ok",
      (err: unknown) => String((err as { code?: unknown }).code ?? err),
    );

await store.counts(); // creates the schema outside the probe
armed = true;
const first = await add();
const second = await add();
console.log(JSON.stringify({ first, second }));
await store.close();
await pool.end();
await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await admin.end();
