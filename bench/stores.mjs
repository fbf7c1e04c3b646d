// Shared-store figures (issue "many instances"): checkpoint throughput per store, and how many grain
// writes a checkpoint makes for many requests. Prints one JSON line (bench/run.mjs makes the table).
// Stores: memory (the baseline, same run), SQLite (a temp file), PostgreSQL when DATABASE_URL is set,
// Redis when REDIS_URL is set and @marketmeter/redis is built. Each store runs on its own schema/prefix.
//   node bench/stores.mjs [--grains 2000] [--rounds 5]
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMarketplace, memoryStore } from "../packages/core/dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const GRAINS = arg("grains", 2000);
const ROUNDS = arg("rounds", 5);
const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 6, 15, 10, 30);
const arn = (i) => `arn:aws:license-manager::294406891311:license:l-${i.toString(16).padStart(32, "0")}`;
const identities = Array.from({ length: GRAINS / 2 }, (_, i) => ({
  customerAWSAccountId: "123456789012",
  licenseArn: arn(i),
}));
const DIMS = ["api_calls", "gb_stored"];

async function openStores() {
  const dir = mkdtempSync(join(tmpdir(), "mm-bench-"));
  const out = [{ name: "memory", make: () => memoryStore(), cleanup: async () => {} }];
  const { sqliteStore } = await import("../packages/sqlite/dist/index.js");
  out.push({
    name: "SQLite",
    make: () => sqliteStore({ path: join(dir, `${randomUUID()}.db`) }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  });
  if (process.env.DATABASE_URL) {
    const { postgresStore } = await import("../packages/postgres/dist/index.js");
    const pg = (await import("../packages/postgres/node_modules/pg/lib/index.js")).default;
    const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
    const schemas = [];
    out.push({
      name: "PostgreSQL",
      make: () => {
        const schema = `bench_${randomUUID().replaceAll("-", "").slice(0, 12)}`;
        schemas.push(schema);
        return postgresStore({ pool, schema });
      },
      cleanup: async () => {
        for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
        await pool.end();
      },
    });
  }
  const redisDist = join(here, "../packages/redis/dist/index.js");
  if (process.env.REDIS_URL && existsSync(redisDist)) {
    const { redisStore } = await import(redisDist);
    const { Redis } = await import("../packages/redis/node_modules/ioredis/built/index.js");
    const client = new Redis(process.env.REDIS_URL);
    const prefixes = [];
    out.push({
      name: "Redis",
      make: () => {
        const keyPrefix = `bench-${randomUUID().slice(0, 8)}`;
        prefixes.push(keyPrefix);
        return redisStore({ client, keyPrefix });
      },
      cleanup: async () => {
        for (const p of prefixes) {
          const keys = await client.keys(`*${p}*`);
          if (keys.length > 0) await client.del(...keys);
        }
        client.disconnect();
      },
    });
  }
  return out;
}

/** Counts what reaches the store: every delta of an `add` is one grain write. */
function counting(store) {
  const c = { adds: 0, writes: 0 };
  const wrapped = Object.create(store);
  wrapped.add = (deltas, ctx) => {
    c.adds++;
    c.writes += deltas.length;
    return store.add(deltas, ctx);
  };
  return { store: wrapped, c };
}

const market = (store) =>
  createMarketplace({
    products: [{ productCode: "pca1234567890abcdefghijkl" }],
    dimensions: DIMS,
    dryRun: true,
    autoStart: false,
    clock: () => NOW,
    store,
  });

const results = [];
for (const s of await openStores()) {
  // Checkpoint throughput: every round, each of GRAINS grains gets usage; one checkpoint writes them.
  const { store, c } = counting(s.make());
  const m = market(store);
  let ms = 0;
  for (let r = 0; r <= ROUNDS; r++) {
    for (const identity of identities)
      for (const dimension of DIMS) m.record({ identity, dimension, quantity: 1 });
    const t0 = performance.now();
    await m.checkpoint();
    if (r > 0) ms += performance.now() - t0; // round 0 warms up (creates the tables and rows)
  }
  const grainsPerSecond = (GRAINS * ROUNDS) / (ms / 1000);
  const writesBefore = c.writes;

  // 100,000 requests over 1,000 grains, then one checkpoint: writes grow with grains, not requests.
  const REQUESTS = 100_000;
  const GR = 1000;
  for (let i = 0; i < REQUESTS; i++)
    m.record({ identity: identities[(i >> 1) % (GR / 2)], dimension: DIMS[i & 1], quantity: 1 });
  await m.checkpoint();
  const writes = c.writes - writesBefore;
  const report = await m.report({ from: NOW - (NOW % HOUR), to: NOW - (NOW % HOUR) + HOUR });
  const total = report.reduce((a, g) => a + g.quantity, 0);
  await m.close();
  results.push({
    store: s.name,
    grainsPerSecond,
    checkpointMs: ms / ROUNDS,
    requests: REQUESTS,
    grains: GR,
    writes,
    // Everything recorded is in the store: rounds + 1 warm-up, plus the 100,000 requests.
    consistent: total === GRAINS * (ROUNDS + 1) + REQUESTS,
  });
  await s.cleanup();
}
console.log(JSON.stringify({ grainsPerCheckpoint: GRAINS, rounds: ROUNDS, results }));
