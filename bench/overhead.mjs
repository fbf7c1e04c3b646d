// `node bench/overhead.mjs`: request-path overhead of the metering middleware in Express, Koa and Hono,
// on a hello-world route under loopback load. Variants (overhead/servers.mjs):
//   bare         no middleware
//   map          a middleware that only increments a Map per customer: the lower bound for any metering
//   mapfinish    the same increment when the response has finished with status < 400 (the lower bound
//                for metering that bills by status, which is what marketmeter does by default)
//   prom         a prom-client counter labelled by customer and status, on response finish
//   marketmeter  the adapter's meterUsage() on a dry-run marketplace with the memory store
// Five methods (see overhead/harness.mjs): sequential autocannon rounds (req/s, p99, ratio to bare: the
// method the target was set with, too noisy on a small VM to decide it); paired rounds (CPU per request,
// each variant against bare in two processes that swap, never more than two servers on the CPU: the
// ratios to bare); concurrent rounds (CPU per request, all variants side by side, a process per
// variant); crossover rounds (CPU per request, every process serving every variant in turn); and A/B
// rounds (marketmeter against Map and against prom-client inside one app that switches between them:
// the verdict, since the target is a difference between two middlewares and this measures it with
// everything else the same). The concurrent and crossover methods load five servers on one CPU at once,
// further from a server that has its core to itself.
// Build first (`pnpm build`): the adapters are loaded from their dist.
// Options (env): FRAMEWORKS (express,koa,hono), ROUNDS (sequential, default 5), SECONDS (1.5),
// CONNECTIONS (10), CSESSIONS (concurrent sessions of fresh processes, 6), CROUNDS (rounds per session,
// 8), CSECONDS (1.5), XCYCLES (crossover cycles, 8), XSECONDS (1.5), PCYCLES (paired cycles, 8),
// PSECONDS (1.5), ABROUNDS (A/B rounds per comparison, even, 20), ABSECONDS (1.5), PIN=0 (do not pin to separate CPUs), SERVER_FLAGS (more node flags for servers).
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

for (const p of ["core", "express", "koa", "hono"])
  if (!existsSync(fileURLToPath(new URL(`../packages/${p}/dist/index.js`, import.meta.url)))) {
    console.error(`missing packages/${p}/dist: run \`pnpm build\` first`);
    process.exit(1);
  }

const { measure, measureAB, measureConcurrent, measureCrossover, measurePaired, table } = await import(
  "./overhead/harness.mjs"
);
const { FRAMEWORKS, VARIANTS } = await import("./overhead/servers.mjs");
const env = (k, d) => Number(process.env[k] ?? d);
const ROUNDS = env("ROUNDS", 5);
const SECONDS = env("SECONDS", 1.5);
const CONNECTIONS = env("CONNECTIONS", 10);
const CSESSIONS = env("CSESSIONS", 6);
const CROUNDS = env("CROUNDS", 8);
const CSECONDS = env("CSECONDS", 1.5);
const XCYCLES = env("XCYCLES", 8);
const XSECONDS = env("XSECONDS", 1.5);
const PCYCLES = env("PCYCLES", 8);
const PSECONDS = env("PSECONDS", 1.5);
const ABROUNDS = env("ABROUNDS", 20);
const ABSECONDS = env("ABSECONDS", 1.5);
const frameworks = (process.env.FRAMEWORKS ?? FRAMEWORKS.join(","))
  .split(",")
  .filter((f) => FRAMEWORKS.includes(f));
const script = fileURLToPath(new URL("./overhead/serve.mjs", import.meta.url));

const t0 = Date.now();
const seqRows = [];
const conRows = [];
const xRows = [];
const pRows = [];
const abRows = [];
const verdicts = [];
const recorded = {};
let pinnedRun = false;
for (const f of frameworks) {
  const seq = await measure({
    script,
    args: [f],
    variants: VARIANTS,
    rounds: ROUNDS,
    seconds: SECONDS,
    connections: CONNECTIONS,
  });
  const con = await measureConcurrent({
    script,
    args: [f],
    variants: VARIANTS,
    sessions: CSESSIONS,
    rounds: CROUNDS,
    seconds: CSECONDS,
  });
  const xo = await measureCrossover({
    script,
    args: [f],
    variants: VARIANTS,
    cycles: XCYCLES,
    seconds: XSECONDS,
  });
  const pa = await measurePaired({
    script,
    args: [f],
    variants: VARIANTS,
    cycles: PCYCLES,
    seconds: PSECONDS,
  });
  const ab = {};
  for (const b of ["map", "prom"])
    ab[b] = await measureAB({ script, args: [f], a: "marketmeter", b, rounds: ABROUNDS, seconds: ABSECONDS });
  pinnedRun = seq.pinned && con.pinned && xo.pinned && pa.pinned && ab.map.pinned && ab.prom.pinned;
  recorded[f] =
    seq.stats.marketmeter +
    con.stats.marketmeter +
    xo.stats.marketmeter +
    pa.stats.marketmeter +
    Object.values({ ...ab.map.records, ...ab.prom.records }).reduce((a, n) => a + n, 0);
  const p = pa.results;
  const s = seq.results;
  const c = con.results;
  const x = xo.results;
  for (const v of VARIANTS) {
    seqRows.push([
      f,
      v,
      Math.round(s[v].rps).toLocaleString("en-US"),
      `${s[v].p99} ms`,
      s[v].ratio.toFixed(3),
      `${s[v].ratioMin.toFixed(3)}–${s[v].ratioMax.toFixed(3)}`,
    ]);
    conRows.push([f, v, c[v].us.toFixed(1), c[v].ratio.toFixed(3), `± ${c[v].se.toFixed(3)}`]);
    xRows.push([f, v, x[v].us.toFixed(1), x[v].ratio.toFixed(3), `± ${x[v].se.toFixed(3)}`]);
    pRows.push([f, v, p[v].us.toFixed(1), p[v].ratio.toFixed(3), `± ${p[v].se.toFixed(3)}`]);
  }
  const pct = (x) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)} %`;
  for (const b of ["map", "prom"])
    abRows.push([
      f,
      `marketmeter vs ${b}`,
      ab[b].usA.toFixed(1),
      ab[b].usB.toFixed(1),
      pct(ab[b].ratio - 1),
      `± ${(ab[b].se * 100).toFixed(2)} %`,
      (1 / ab[b].ratio).toFixed(3),
    ]);
  // The A/B method gives marketmeter's throughput as a share of Map's; the paired Map ratio turns that
  // into the target's unit (a share of bare's throughput).
  const abGap = p.map.ratio * (1 - 1 / ab.map.ratio);
  verdicts.push(
    `${f} (A/B, the verdict): marketmeter costs ${pct(ab.map.ratio - 1)} ± ${(ab.map.se * 100).toFixed(2)} % CPU per request over Map, so keeps ${(1 / ab.map.ratio).toFixed(3)} of Map's throughput: a gap of ${abGap.toFixed(3)} at Map's paired ratio ${p.map.ratio.toFixed(3)} (target ≤ 0.030: ${abGap <= 0.03 ? "met" : "MISSED"}); vs prom-client ${pct(ab.prom.ratio - 1)} ± ${(ab.prom.se * 100).toFixed(2)} % (${ab.prom.ratio <= 1 ? "at or above" : "BELOW"})`,
  );
  for (const [label, r] of [
    ["paired", (v) => p[v].ratio],
    ["crossover", (v) => x[v].ratio],
    ["concurrent", (v) => c[v].ratio],
    ["sequential req/s", (v) => s[v].ratio],
  ]) {
    const mm = r("marketmeter");
    const map = r("map");
    const mf = r("mapfinish");
    const pc = r("prom");
    verdicts.push(
      `${f} (${label}): marketmeter ${mm.toFixed(3)} vs Map ${map.toFixed(3)} (gap ${(map - mm).toFixed(3)}, target ≤ 0.030: ${map - mm <= 0.03 ? "met" : "MISSED"}); vs Map on finish ${mf.toFixed(3)} (gap ${(mf - mm).toFixed(3)}); vs prom-client ${pc.toFixed(3)} (${mm >= pc ? "at or above" : "BELOW"})`,
    );
  }
}
const where = pinnedRun ? "servers on CPU 0, load generator on CPU 1" : "not pinned";
console.log(
  `sequential: ${ROUNDS} rounds × ${SECONDS} s, autocannon, ${CONNECTIONS} connections, 10 customers, loopback, ${where}, node ${process.version}`,
);
console.log(
  table(
    ["framework", "variant", "req/s (median)", "p99 (median)", "ratio to bare (median of rounds)", "range"],
    seqRows,
  ),
);
console.log(
  `\nA/B (the verdict): ${ABROUNDS} rounds × ${ABSECONDS} s per comparison, 2 processes each running one app that switches between marketmeter and the baseline, swapped every round, 4 connections each, ${where}`,
);
console.log(
  table(
    [
      "framework",
      "comparison",
      "marketmeter: CPU µs/request (median)",
      "baseline: CPU µs/request (median)",
      "marketmeter's extra CPU per request (mean of pairs)",
      "± standard error",
      "throughput marketmeter keeps of the baseline's",
    ],
    abRows,
  ),
);
console.log(
  `\npaired (ratios to bare): 2 processes each serving every variant, ${PCYCLES} cycles × ${VARIANTS.length - 1} variants × 2 rounds × ${PSECONDS} s, each variant against bare with the processes swapped, 4 connections each, ${where}`,
);
console.log(
  table(
    ["framework", "variant", "CPU µs/request (median)", "ratio to bare (mean of cycles)", "± standard error"],
    pRows,
  ),
);
console.log(
  `\nconcurrent: ${CSESSIONS} sessions of fresh processes × ${CROUNDS} rounds × ${CSECONDS} s, all variants at once, 4 connections each, ${where}`,
);
console.log(
  table(
    [
      "framework",
      "variant",
      "CPU µs/request (median)",
      "ratio to bare (mean of session medians)",
      "± standard error",
    ],
    conRows,
  ),
);
console.log(
  `\ncrossover: ${VARIANTS.length} processes each serving every variant, ${XCYCLES} cycles × ${VARIANTS.length} rounds × ${XSECONDS} s, each variant in a different process each round, 4 connections each, ${where}`,
);
console.log(
  table(
    ["framework", "variant", "CPU µs/request (median)", "ratio to bare (mean of cycles)", "± standard error"],
    xRows,
  ),
);
console.log("");
for (const v of verdicts) console.log(v);
console.log(
  `records seen by marketmeter: ${Object.entries(recorded)
    .map(([f, n]) => `${f} ${Number(n).toLocaleString("en-US")}`)
    .join(", ")}`,
);
console.log(`elapsed: ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(0);
