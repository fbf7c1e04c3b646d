// `node bench/overhead.mjs`: request-path overhead of the metering middleware in Express, Koa and Hono.
// Hello-world routes under loopback load (autocannon in a child process); the variants run interleaved
// over several rounds in this one run, and medians are reported with each variant's ratio to bare.
// Build first (`pnpm build`): the adapters are loaded from their dist.
// Besides throughput, the servers' CPU time per request is measured (they share this process, which
// does nothing else while a load child runs): it is far less sensitive to other load on the machine.
// Options (env): ROUNDS (default 4), SECONDS per run (2), CONNECTIONS (10), FRAMEWORKS (express,koa,hono).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
process.env.AWS_EC2_METADATA_DISABLED ??= "true";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

for (const p of ["core", "express", "koa", "hono"])
  if (!existsSync(fileURLToPath(new URL(`../packages/${p}/dist/index.js`, import.meta.url)))) {
    console.error(`missing packages/${p}/dist: run \`pnpm build\` first`);
    process.exit(1);
  }

const { FRAMEWORKS, VARIANTS, start } = await import("./overhead/servers.mjs");
const { measureInProcess } = await import("./overhead/inprocess.mjs");
const {
  ROUNDS: rounds,
  SECONDS: seconds,
  CONNECTIONS: connections,
  FRAMEWORKS: only,
} = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => ["ROUNDS", "SECONDS", "CONNECTIONS", "FRAMEWORKS"].includes(k)),
);
const ROUNDS = Number(rounds ?? 4);
const SECONDS = Number(seconds ?? 2);
const CONNECTIONS = Number(connections ?? 10);
const frameworks = (only ?? FRAMEWORKS.join(",")).split(",").filter((f) => FRAMEWORKS.includes(f));
const loader = fileURLToPath(new URL("./overhead/load.mjs", import.meta.url));

const load = (url, seconds) =>
  new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [loader, url, String(seconds), String(CONNECTIONS), "10"],
      { timeout: (seconds + 30) * 1000 },
      (err, stdout) => {
        if (err) reject(err);
        else resolve(JSON.parse(stdout.trim().split("\n").pop()));
      },
    );
  });
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

const servers = {};
for (const f of frameworks) for (const v of VARIANTS) servers[`${f}/${v}`] = await start(f, v);
const samples = Object.fromEntries(Object.keys(servers).map((k) => [k, []]));
const t0 = Date.now();
// Warm-up: JIT and connection pools, not measured.
for (const k of Object.keys(servers)) await load(servers[k].url, 1);
for (let round = 0; round < ROUNDS; round++) {
  for (const f of frameworks) {
    // Rotate the order each round so no variant always runs first (or right after the same neighbour).
    const order = VARIANTS.map((_, i) => VARIANTS[(i + round) % VARIANTS.length]);
    for (const v of order) {
      const cpu0 = process.cpuUsage();
      const r = await load(servers[`${f}/${v}`].url, SECONDS);
      const cpu = process.cpuUsage(cpu0);
      r.cpuUs = (cpu.user + cpu.system) / Math.max(1, r.total);
      if (r.errors || r.non2xx)
        throw new Error(`${f}/${v}: ${r.errors} errors, ${r.non2xx} non-2xx responses`);
      samples[`${f}/${v}`].push(r);
    }
  }
}
const recorded = {};
for (const [k, s] of Object.entries(servers)) {
  if (s.marketplace) recorded[k] = s.marketplace.stats().records;
  await s.close();
}

const rows = [];
const verdicts = [];
const bareCpuUs = {};
for (const f of frameworks) {
  const rps = Object.fromEntries(VARIANTS.map((v) => [v, median(samples[`${f}/${v}`].map((r) => r.rps))]));
  const p99 = Object.fromEntries(VARIANTS.map((v) => [v, median(samples[`${f}/${v}`].map((r) => r.p99))]));
  const cpu = Object.fromEntries(VARIANTS.map((v) => [v, median(samples[`${f}/${v}`].map((r) => r.cpuUs))]));
  bareCpuUs[f] = cpu.bare;
  for (const v of VARIANTS)
    rows.push([
      f,
      v,
      Math.round(rps[v]).toLocaleString("en-US"),
      `${p99[v]} ms`,
      (rps[v] / rps.bare).toFixed(3),
      cpu[v].toFixed(1),
      (cpu.bare / cpu[v]).toFixed(3),
    ]);
  // Throughput ratios, and the same comparison on CPU time per request (bare / variant, higher is better).
  for (const [label, r] of [
    ["req/s", (v) => rps[v] / rps.bare],
    ["cpu", (v) => cpu.bare / cpu[v]],
  ]) {
    const mm = r("marketmeter");
    const map = r("map");
    const pc = r("prom");
    verdicts.push(
      `${f} (${label}): marketmeter ${mm.toFixed(3)} vs Map ${map.toFixed(3)} (gap ${(map - mm).toFixed(3)}, target ≤ 0.030: ${map - mm <= 0.03 ? "met" : "MISSED"}); vs prom-client ${pc.toFixed(3)} (${mm >= pc - 0.005 ? "at or above" : "BELOW"})`,
    );
  }
}
const head = [
  "framework",
  "variant",
  "req/s (median)",
  "p99 (median)",
  "ratio to bare",
  "CPU µs/req",
  "CPU ratio (bare/x)",
];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => `| ${r.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
console.log(
  `overhead: ${ROUNDS} rounds × ${SECONDS} s, ${CONNECTIONS} connections, 10 customers, loopback, node ${process.version}`,
);
console.log(line(head));
console.log(`| ${widths.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of rows) console.log(line(r));
for (const v of verdicts) console.log(v);

// The isolated cost of each middleware, turned into the throughput ratio it implies for a server whose
// bare request costs the CPU measured above: bare / (bare + added).
const iso = await measureInProcess(frameworks);
const isoRows = [];
console.log(
  "\nin-process middleware cost (median ns/request) and the ratio it implies against the bare CPU cost above",
);
for (const f of frameworks) {
  const est = (v) => (bareCpuUs[f] * 1000) / (bareCpuUs[f] * 1000 + Math.max(0, iso[f][v] - iso[f].bare));
  for (const v of VARIANTS)
    isoRows.push([
      f,
      v,
      Math.round(iso[f][v]).toLocaleString("en-US"),
      Math.round(iso[f][v] - iso[f].bare).toLocaleString("en-US"),
      est(v).toFixed(4),
    ]);
  const gap = est("map") - est("marketmeter");
  console.log(
    `${f} (isolated): marketmeter ${est("marketmeter").toFixed(4)} vs Map ${est("map").toFixed(4)} (gap ${gap.toFixed(4)}, target ≤ 0.030: ${gap <= 0.03 ? "met" : "MISSED"}); vs prom-client ${est("prom").toFixed(4)} (${est("marketmeter") >= est("prom") ? "at or above" : "BELOW"})`,
  );
}
const isoHead = ["framework", "variant", "ns/req", "added over bare", "implied ratio"];
const isoW = isoHead.map((h, i) => Math.max(h.length, ...isoRows.map((r) => r[i].length)));
const isoLine = (r) => `| ${r.map((c, i) => c.padEnd(isoW[i])).join(" | ")} |`;
console.log(isoLine(isoHead));
console.log(`| ${isoW.map((w) => "-".repeat(w)).join(" | ")} |`);
for (const r of isoRows) console.log(isoLine(r));
console.log(
  `records seen by marketmeter: ${Object.entries(recorded)
    .map(([k, n]) => `${k.split("/")[0]} ${n.toLocaleString("en-US")}`)
    .join(", ")}`,
);
console.log(`elapsed: ${Math.round((Date.now() - t0) / 1000)} s`);
process.exit(0);
