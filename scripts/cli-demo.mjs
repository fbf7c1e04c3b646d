#!/usr/bin/env node
// The closing demo of the `marketmeter` CLI: the Express starter's demo flow (a buyer subscribes, signs
// up, calls the API; the hour closes and is sent to the local emulator) into a SQLite store, then
// `marketmeter status`, `usage` and `doctor` against that store and that emulator, printed as a user
// sees them. Needs `pnpm build` first. Nothing leaves 127.0.0.1.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "packages/cli/dist/cli.js");
const { startApp } = await import(join(root, "examples/express-saas/dist/app.js"));
const HOUR = 3_600_000;
const PRODUCT = "pca1234567890abcdefghijkl";
const ACCOUNT = "444455556666";

process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const dataDir = mkdtempSync(join(tmpdir(), "marketmeter-cli-demo-"));
// The emulator starts two hours back, so the hour the demo closes is a real past hour for the CLI.
const app = await startApp({
  port: 0,
  dataDir,
  emulator: { port: 0, now: Date.now() - 2 * HOUR },
  log: () => {},
});
const emulator = app.emulator.endpoint;

async function post(url, body, headers = {}) {
  const json = !(body instanceof URLSearchParams);
  return fetch(url, {
    method: "POST",
    redirect: "manual",
    headers: json ? { "content-type": "application/json", ...headers } : headers,
    body: json ? JSON.stringify(body) : body,
  });
}

try {
  // The buyer subscribes on AWS Marketplace and lands on the fulfillment URL with a token.
  const sub = await (
    await post(`${emulator}/_emulator/buyers/subscribe`, {
      productCode: PRODUCT,
      customerAWSAccountId: ACCOUNT,
    })
  ).json();
  const { token } = await (
    await post(`${emulator}/_emulator/tokens`, { licenseArn: sub.license.licenseArn })
  ).json();
  const registered = await post(
    `${app.url}/marketplace/register`,
    new URLSearchParams({ "x-amzn-marketplace-token": token }),
  );
  const registration = new URL(registered.headers.get("location"), app.url).searchParams.get("registration");
  const done = await post(
    `${app.url}/signup`,
    new URLSearchParams({ registration, name: "Ann", email: "ann@example.com" }),
  );
  const cookie = done.headers.get("set-cookie").split(";")[0];
  const page = await (await fetch(`${app.url}/signup/done`, { headers: { cookie } })).text();
  const key = /mm_[A-Za-z0-9_-]{32}/.exec(page)[0];
  const call = async (path, n) => {
    for (let i = 0; i < n; i++) await fetch(app.url + path, { headers: { authorization: `Bearer ${key}` } });
  };

  // Metered calls, then the hour ends (+ grace) and is sent; then more calls in the next, open hour.
  await call("/api/quotes?symbol=ACME", 5);
  await call("/api/reports?symbol=ACME&days=7", 1);
  const now = app.emulator.clock.now().getTime();
  const hour = Math.floor(now / HOUR) * HOUR;
  app.emulator.clock.advance(hour + HOUR + 5 * 60_000 + 1000 - now);
  await app.marketplace.flush();
  await call("/api/quotes?symbol=ACME", 3);
  await app.marketplace.checkpoint();

  writeFileSync(
    join(dataDir, "marketmeter.config.json"),
    JSON.stringify(
      {
        products: [{ productCode: PRODUCT }],
        dimensions: ["api_calls", "report_rows"],
        region: "us-east-1",
        endpoint: emulator,
      },
      null,
      2,
    ),
  );
  const store = join(dataDir, "demo", "usage.db");
  const env = {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith("AWS_") && !k.startsWith("MARKETMETER_")),
    ),
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_ACCESS_KEY_ID: "AKIDEXAMPLE12345",
    AWS_SECRET_ACCESS_KEY: "demo-secret-not-printed",
    AWS_REGION: "us-east-1",
    HOME: dataDir,
    MARKETMETER_STORE: store,
  };
  // Async: the emulator answering doctor lives in this process.
  const run = (args) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [cli, ...args], {
        cwd: dataDir,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      child.stdout.on("data", (d) => (out += d));
      child.stderr.on("data", (d) => (out += d));
      child.on("close", (code) => resolve({ code, out }));
    });
  for (const args of [
    ["status"],
    ["usage", "--customer", ACCOUNT, "--from", "-6h"],
    ["usage", "--customer", ACCOUNT, "--from", "-6h", "--format", "csv"],
    ["doctor"],
  ]) {
    const { code, out } = await run(args);
    console.log(`$ MARKETMETER_STORE=<data>/demo/usage.db marketmeter ${args.join(" ")}`);
    console.log(out.trimEnd());
    console.log(`(exit ${code})\n`);
  }
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}
