// `pnpm bench:ab`: what one variant's middleware costs per request over another's, measured with the
// A/B method (overhead/harness.mjs, measureAB): two processes, each running one app that switches
// between the two variants, loaded at once and swapped every round. Variants as in overhead/servers.mjs
// (bare, map, mapfinish, prom, marketmeter).
//
//   node bench/overhead-ab.mjs [frameworks] [pairs]
//     frameworks  comma-separated, default express,koa,hono
//     pairs       comma-separated a:b, default mapfinish:map,marketmeter:mapfinish,marketmeter:map,marketmeter:prom
//   env: ROUNDS (even, default 20), SECONDS (1.5), PIN=0 (do not pin to separate CPUs),
//        BENCH_STORE=memory|sqlite|postgres|redis (marketmeter's store; DATABASE_URL / REDIS_URL)
//
// Use it to check a change to the request path: run it before and after, and compare marketmeter's
// extra cost over its lower bounds (map, mapfinish).
// Build first (`pnpm build`): the adapters are loaded from their dist.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

for (const p of ["core", "express", "koa", "hono"])
  if (!existsSync(fileURLToPath(new URL(`../packages/${p}/dist/index.js`, import.meta.url)))) {
    console.error(`missing packages/${p}/dist: run \`pnpm build\` first`);
    process.exit(1);
  }
const { measureAB, table } = await import("./overhead/harness.mjs");
const { FRAMEWORKS, VARIANTS } = await import("./overhead/servers.mjs");

const usage = "usage: node bench/overhead-ab.mjs [express,koa,hono] [a:b,...]";
const [
  fArg = FRAMEWORKS.join(","),
  pArg = "mapfinish:map,marketmeter:mapfinish,marketmeter:map,marketmeter:prom",
] = process.argv.slice(2);
const frameworks = fArg.split(",");
const pairs = pArg.split(",").map((p) => p.split(":"));
for (const f of frameworks)
  if (!FRAMEWORKS.includes(f)) {
    console.error(`unknown framework ${JSON.stringify(f)} (known: ${FRAMEWORKS.join(", ")})\n${usage}`);
    process.exit(2);
  }
for (const p of pairs)
  if (p.length !== 2 || !p.every((v) => VARIANTS.includes(v)) || p[0] === p[1]) {
    console.error(
      `bad pair ${JSON.stringify(p.join(":"))}: two different variants of ${VARIANTS.join(", ")}\n${usage}`,
    );
    process.exit(2);
  }
const ROUNDS = Number(process.env.ROUNDS ?? 20);
const SECONDS = Number(process.env.SECONDS ?? 1.5);
if (!Number.isInteger(ROUNDS) || ROUNDS < 2 || ROUNDS % 2 || !(SECONDS > 0)) {
  console.error("ROUNDS must be an even integer ≥ 2 and SECONDS a positive number");
  process.exit(2);
}
const script = fileURLToPath(new URL("./overhead/serve.mjs", import.meta.url));

const rows = [];
let pinned = true;
const t0 = Date.now();
for (const f of frameworks)
  for (const [a, b] of pairs) {
    const r = await measureAB({ script, args: [f], a, b, rounds: ROUNDS, seconds: SECONDS });
    pinned &&= r.pinned;
    const pct = (x) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(2)} %`;
    rows.push([
      f,
      `${a} vs ${b}`,
      r.usA.toFixed(1),
      r.usB.toFixed(1),
      pct(r.ratio - 1),
      `± ${(r.se * 100).toFixed(2)} %`,
      (1 / r.ratio).toFixed(3),
    ]);
  }
console.log(
  `A/B: ${ROUNDS} rounds × ${SECONDS} s per pair (${ROUNDS / 2} swapped pairs), 2 processes each running one app that switches between the two variants, 4 connections each, ${pinned ? "servers on CPU 0, load generator on CPU 1" : "not pinned"}, marketmeter's store ${process.env.BENCH_STORE || "memory"}, node ${process.version}, ${Math.round((Date.now() - t0) / 1000)} s`,
);
console.log(
  table(
    [
      "framework",
      "a vs b",
      "a: CPU µs/request (median)",
      "b: CPU µs/request (median)",
      "a's extra CPU per request (mean of pairs)",
      "± standard error",
      "throughput a keeps of b's",
    ],
    rows,
  ),
);
