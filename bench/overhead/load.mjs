// Load generator child: `node load.mjs <url> <seconds> <connections> <customers>`; prints one JSON line.
// Runs in its own process so the generator's CPU work is not counted against the server's event loop.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

const require = createRequire(
  fileURLToPath(new URL("../../packages/adapter-conformance/package.json", import.meta.url)),
);
const autocannon = require("autocannon");

const [url, seconds = "3", connections = "10", customers = "10"] = process.argv.slice(2);
const requests = Array.from({ length: Number(customers) }, (_, i) => ({
  method: "GET",
  headers: { "x-customer": `c${i}` },
}));
const result = await autocannon({
  url,
  duration: Number(seconds),
  connections: Number(connections),
  requests,
});
process.stdout.write(
  `${JSON.stringify({ rps: result.requests.average, total: result.requests.total, p99: result.latency.p99, errors: result.errors, non2xx: result.non2xx })}\n`,
);
