// Load generator child: `node load.mjs <url> <seconds> <connections> <customers> [header] [ids]`; prints
// one JSON line. Runs in its own process so the generator's CPU work is not counted against the server.
// Requests rotate over the customers: header `header` (default x-customer) set to each of `ids`
// (comma-separated; default c0, c1, …).
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(
  fileURLToPath(new URL("../../packages/adapter-conformance/package.json", import.meta.url)),
);
const autocannon = require("autocannon");

const [url, seconds = "3", connections = "10", customers = "10", header = "x-customer", list] =
  process.argv.slice(2);
const ids = list ? list.split(",") : Array.from({ length: Number(customers) }, (_, i) => `c${i}`);
const requests = ids.map((id) => ({ method: "GET", headers: { [header]: id } }));
const result = await autocannon({
  url,
  duration: Number(seconds),
  connections: Number(connections),
  requests,
});
process.stdout.write(
  `${JSON.stringify({ rps: result.requests.average, total: result.requests.total, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx })}\n`,
);
