// `pnpm chaos`: the chaos run with a larger load, for a manual run. Prints the figures and every
// violation; exits 1 when anything does not hold.
//   CHAOS_STORE=postgres (default: every store whose URL is set)  CHAOS_SEED=<n>  CHAOS_SCALE=<n> (default 3)
import { figuresTable, runChaos, seedFromEnv, violations } from "./harness.js";
import { isStoreName, STORE_KITS, type StoreName } from "./stores.js";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const scale = Number(process.env.CHAOS_SCALE ?? 3);
if (!Number.isInteger(scale) || scale < 1 || scale > 50)
  throw new Error("CHAOS_SCALE must be an integer from 1 to 50");
const names = (process.env.CHAOS_STORE?.split(",") ?? Object.keys(STORE_KITS)).filter((n) => n !== "");
let failed = false;
for (const name of names) {
  if (!isStoreName(name))
    throw new Error(`unknown store "${name}" (known: ${Object.keys(STORE_KITS).join(", ")})`);
  const store: StoreName = name;
  const url = process.env[STORE_KITS[store].env];
  if (!url) {
    console.log(`${store}: skipped, ${STORE_KITS[store].env} is not set`);
    continue;
  }
  const seed = seedFromEnv();
  const result = await runChaos({
    store,
    url,
    seed,
    customers: 40 * scale,
    batchesPerHour: 8 * scale,
    requestsPerBatch: 30 * scale,
    log: (line) => console.log(line),
  });
  console.log(figuresTable(store, result));
  for (const [check, list] of Object.entries(violations(result))) {
    if (list.length === 0) continue;
    failed = true;
    console.log(`\n${check}: ${list.length}\n  ${list.slice(0, 20).join("\n  ")}`);
  }
}
process.exit(failed ? 1 : 0);
