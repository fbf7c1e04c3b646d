// record() throughput vs a bare Map increment, and heap per 100,000 open grains.
// Run with `node --expose-gc bench/record.mjs` (bench/run.mjs does this); prints one JSON line.
import { createMarketplace } from "../packages/core/dist/index.js";

const NOW = Date.UTC(2026, 6, 15, 10, 30);
const arn = (i) => `arn:aws:license-manager::294406891311:license:l-${i.toString(16).padStart(32, "0")}`;
const make = () =>
  createMarketplace({
    products: [{ productCode: "pca1234567890abcdefghijkl" }],
    dimensions: ["api_calls", "gb_stored"],
    dryRun: true,
    autoStart: false,
    clock: () => NOW,
  });

function timeIt(fn, n) {
  fn(Math.min(n, 200_000)); // warm-up
  const t0 = process.hrtime.bigint();
  fn(n);
  const ns = Number(process.hrtime.bigint() - t0);
  return (n / ns) * 1e9;
}

const N = 3_000_000;
const identities = Array.from({ length: 100 }, (_, i) => ({
  customerAWSAccountId: "123456789012",
  licenseArn: arn(i),
}));
const dims = ["api_calls", "gb_stored"];

// Baseline: what any in-memory counter costs, one Map increment per event.
const keys = identities.map((id) => `${id.licenseArn}`);
const map = new Map();
const baseline = timeIt((n) => {
  for (let i = 0; i < n; i++) {
    const k = keys[i % 100];
    map.set(k, (map.get(k) ?? 0) + 1);
  }
}, N);

const m1 = make();
const record = timeIt((n) => {
  for (let i = 0; i < n; i++)
    m1.record({ identity: identities[i % 100], dimension: dims[i & 1], quantity: 1 });
}, N);

// Callers that build a new identity object per request pay validation once per call.
const m2 = make();
const fresh = timeIt((n) => {
  for (let i = 0; i < n; i++)
    m2.record({
      identity: { customerAWSAccountId: "123456789012", licenseArn: keys[i % 100] },
      dimension: "api_calls",
      quantity: 1,
    });
}, N / 10);

// Heap per 100,000 open grains (50,000 buyers x 2 dimensions, in memory before a checkpoint).
const ids = Array.from({ length: 50_000 }, (_, i) => ({
  customerAWSAccountId: "123456789012",
  licenseArn: arn(i + 1000),
}));
const m3 = make();
global.gc?.();
global.gc?.();
const before = process.memoryUsage().heapUsed;
for (const id of ids) for (const d of dims) m3.record({ identity: id, dimension: d, quantity: 1 });
global.gc?.();
global.gc?.();
const after = process.memoryUsage().heapUsed;
const grains = m3.stats().inMemoryGrains;

// The same grains after a checkpoint into the memory store.
await m3.checkpoint();
global.gc?.();
global.gc?.();
const afterStore = process.memoryUsage().heapUsed;

console.log(
  JSON.stringify({
    baseline,
    record,
    fresh,
    grains,
    heapPer100k: ((after - before) / grains) * 100_000,
    storePer100k: ((afterStore - before) / grains) * 100_000,
    gc: typeof global.gc === "function",
  }),
);
