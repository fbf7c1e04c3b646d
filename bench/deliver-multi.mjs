// Eight instances on one shared store deliver 10,000 closed grains to the emulator, which enforces the
// real rate limit (10 BatchMeterUsage calls per second per account and Region). Pacing is global when the
// store offers a shared token bucket; prints one JSON line with records per second against the 250/s
// ceiling (25 records x 10 calls) and the calls the emulator throttled.
//   node bench/deliver-multi.mjs [--instances 8] [--grains 10000]
// Store: PostgreSQL when DATABASE_URL is set, else one SQLite file shared by the instances.
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createMarketplace } from "../packages/core/dist/index.js";
import { DEMO, demoConfig, startEmulator } from "../packages/emulator/dist/index.js";

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const INSTANCES = arg("instances", 8);
const GRAINS = arg("grains", 10_000);
const LICENSES = GRAINS / 2;

const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
const now = Date.parse(DEMO.now);
emu.clock.set(now, { freeze: true });
const arn = (i) =>
  `arn:aws:license-manager::294406891311:license:l-${(i + 0x1000).toString(16).padStart(32, "0")}`;
for (let i = 0; i < LICENSES; i++)
  emu.addLicense({
    licenseArn: arn(i),
    customerAWSAccountId: DEMO.A2,
    productCode: DEMO.P_CA,
    activatedAt: "2026-07-01T00:00:00Z",
  });

let storeName;
let makeStore;
let cleanup;
if (process.env.DATABASE_URL) {
  const { postgresStore } = await import("../packages/postgres/dist/index.js");
  const schema = `bench_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const stores = [];
  storeName = "PostgreSQL";
  makeStore = () => {
    const s = postgresStore({ connectionString: process.env.DATABASE_URL, schema });
    stores.push(s);
    return s;
  };
  cleanup = async () => {
    const pg = (await import("../packages/postgres/node_modules/pg/lib/index.js")).default;
    const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  };
} else {
  const { sqliteStore } = await import("../packages/sqlite/dist/index.js");
  const dir = mkdtempSync(join(tmpdir(), "mm-deliver-"));
  storeName = "SQLite";
  makeStore = () => sqliteStore({ path: join(dir, "usage.db") });
  cleanup = async () => rmSync(dir, { recursive: true, force: true });
}

let clockRuns = () => now;
const make = () =>
  createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: ["api_calls", "gb_stored"],
    aws: {
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    clock: () => clockRuns(),
    autoStart: false,
    store: makeStore(),
  });
const instances = Array.from({ length: INSTANCES }, make);

// Usage lands through the first instance; every instance then competes to send it.
for (let i = 0; i < LICENSES; i++)
  for (const d of ["api_calls", "gb_stored"])
    instances[0].record({
      identity: { customerAWSAccountId: DEMO.A2, licenseArn: arn(i) },
      dimension: d,
      quantity: i + 1,
    });
await instances[0].checkpoint();
// The next hour, with both clocks running in real time from here (retries wait their real backoff).
const t0 = performance.now();
const start = now + 3_600_000;
emu.clock.set(start, { freeze: false });
clockRuns = () => start + (performance.now() - t0);
// Each instance sends what it can claim; grains that were throttled come back after their backoff.
while (emu.ledger().length < GRAINS && performance.now() - t0 < 300_000)
  await Promise.all(instances.map((m) => m.flush()));
const seconds = (performance.now() - t0) / 1000;
const billed = emu.ledger().length;
const throttled = emu.rejected().filter((r) => r.errorType === "ThrottlingException").length;
const duplicates = emu.rejected().filter((r) => r.errorType === "DuplicateRecord").length;
const calls = instances.reduce((a, m) => a + m.stats().calls, 0);
const paced = typeof instances[0].store.takeSendToken === "function" ? "store token bucket" : "per instance";
for (const m of instances) await m.close();
await emu.close();
await cleanup();
console.log(
  JSON.stringify({
    store: storeName,
    instances: INSTANCES,
    pacing: paced,
    records: billed,
    seconds,
    perSecond: billed / seconds,
    calls,
    throttled,
    duplicates,
  }),
);
