// `pnpm bench`: runs each benchmark in its own process and prints one table. Build first (`pnpm build`):
// the benchmarks use the packages' dist.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// The benchmarks load the AWS SDK, whose Node 20 notice would land in the middle of the tables.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
for (const p of [
  "../packages/core/dist/index.js",
  "../packages/emulator/dist/index.js",
  "../packages/sqlite/dist/index.js",
  "../packages/postgres/dist/index.js",
])
  if (!existsSync(join(here, p))) {
    console.error(`missing ${p}: run \`pnpm build\` first`);
    process.exit(1);
  }

const run = (script) =>
  JSON.parse(
    execFileSync(process.execPath, ["--expose-gc", join(here, script)], {
      encoding: "utf8",
      timeout: 400_000,
    })
      .trim()
      .split("\n")
      .pop(),
  );

const r = run("record.mjs");
const d = run("deliver.mjs");
const st = run("stores.mjs");
const dm = run("deliver-multi.mjs");
const fmt = (n) => Math.round(n).toLocaleString("en-US");
const rows = [
  ["Map increment (baseline)", `${fmt(r.baseline)} ops/s`, "1.00x", ""],
  [
    "record(), reused identity objects",
    `${fmt(r.record)} ops/s`,
    `${(r.baseline / r.record).toFixed(2)}x`,
    "target ≤ 3x",
  ],
  [
    "record(), new identity object per call",
    `${fmt(r.fresh)} ops/s`,
    `${(r.baseline / r.fresh).toFixed(2)}x`,
    "validates the identity each call",
  ],
  [
    "heap per 100,000 open grains (in memory)",
    `${(r.heapPer100k / 1048576).toFixed(1)} MiB`,
    "",
    r.gc ? "" : "no --expose-gc: rough",
  ],
  ["heap per 100,000 grains (memory store)", `${(r.storePer100k / 1048576).toFixed(1)} MiB`, "", ""],
  [
    "delivery to emulator at 10 calls/s",
    `${d.perSecond.toFixed(1)} rec/s`,
    `${((d.perSecond / 250) * 100).toFixed(1)} % of 250`,
    `${d.records} records, ${d.calls} calls, ${d.throttled} throttled, target ≥ 90 % (first 10 calls start at once)`,
  ],
];
// Checkpoint throughput per store, against the memory store measured in the same run.
const mem = st.results.find((x) => x.store === "memory");
for (const x of st.results)
  rows.push([
    `checkpoint, ${st.grainsPerCheckpoint} grains, ${x.store}`,
    `${fmt(x.grainsPerSecond)} grains/s`,
    `${(mem.grainsPerSecond / x.grainsPerSecond).toFixed(2)}x`,
    `${x.checkpointMs.toFixed(0)} ms a checkpoint${x.consistent ? "" : ", TOTALS DIFFER"}`,
  ]);
for (const x of st.results)
  rows.push([
    `store writes, ${fmt(x.requests)} requests, ${x.store}`,
    `${fmt(x.writes)} writes`,
    `${(x.writes / x.grains).toFixed(2)} per grain`,
    `${fmt(x.grains)} grains, one checkpoint; goal ≤ 1 write per grain`,
  ]);
rows.push([
  `delivery, ${dm.instances} instances on ${dm.store}`,
  `${dm.perSecond.toFixed(1)} rec/s`,
  `${((dm.perSecond / 250) * 100).toFixed(1)} % of 250`,
  `${dm.records} records, ${dm.calls} calls, ${dm.throttled} throttled, pacing: ${dm.pacing}; goal ≥ 95 %`,
]);
const widths = [0, 1, 2, 3].map((i) =>
  Math.max(...rows.map((row) => row[i].length), ["benchmark", "result", "vs baseline", "note"][i].length),
);
const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(line(["benchmark", "result", "vs baseline", "note"]));
console.log(`|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`);
for (const row of rows) console.log(line(row));

// Request-path overhead per framework (loopback load from a separate process). `pnpm bench --core` skips
// it; each script can also run alone (see their headers for options).
if (!process.argv.includes("--core")) {
  for (const script of [join(here, "overhead.mjs"), join(here, "overhead-nest.mjs")]) {
    console.log("");
    execFileSync(process.execPath, [script], { stdio: "inherit", timeout: 2_700_000 });
  }
}
