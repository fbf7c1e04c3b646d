process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createMarketplace, type UsageStore } from "@marketmeter/core";
import { HOUR_MS } from "@marketmeter/core/store";
import { DEMO } from "@marketmeter/emulator";
import { sqliteStore } from "@marketmeter/sqlite";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
export const CLI = join(root, "dist", "cli.js");

const newest = (dir: string): number =>
  Math.max(
    0,
    ...readdirSync(dir).map((name) => {
      const s = statSync(join(dir, name));
      return s.isDirectory() ? newest(join(dir, name)) : s.mtimeMs;
    }),
  );

/** The tests run the built CLI, as a user would: refuse a stale build rather than test old code. */
export function checkBuilt(): void {
  if ((statSync(CLI, { throwIfNoEntry: false })?.mtimeMs ?? 0) < newest(join(root, "src")))
    throw new Error(
      "packages/cli/dist is older than src/: run `pnpm turbo run build --filter=@marketmeter/cli`",
    );
}

export const SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
export const CREDENTIALS = { accessKeyId: "AKIDEXAMPLE12345", secretAccessKey: SECRET_KEY };

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI in its own process, in `cwd`, with a clean environment plus `env`. */
export function cli(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; command?: string },
): Promise<Run> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("MARKETMETER_") && !k.startsWith("AWS_")),
  );
  const child = spawn(options.command ?? process.execPath, options.command ? args : [CLI, ...args], {
    cwd: options.cwd,
    env: {
      ...clean,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_REGION: "us-east-1",
      HOME: options.cwd,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => {
    stdout += d;
  });
  child.stderr.on("data", (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };
/** A legacy customer the emulator knows as not subscribed: AWS rejects its usage. */
export const NOT_SUBSCRIBED = { customerIdentifier: DEMO.C2, productCode: DEMO.P_L };

/**
 * Fills `store` through a real marketplace talking to the emulator: hour H-3 is sent (CA1) or rejected
 * (NOT_SUBSCRIBED); hour H-2 stays pending, due to be sent by the CLI. Returns the hours.
 */
export async function fill(
  store: UsageStore,
  endpoint: string,
): Promise<{ sentHour: number; pendingHour: number }> {
  const hourNow = Math.floor(Date.now() / HOUR_MS) * HOUR_MS;
  const sentHour = hourNow - 3 * HOUR_MS;
  let now = sentHour + 10 * 60_000;
  const m = createMarketplace({
    products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
    dimensions: ["api_calls", "gb_stored"],
    store,
    aws: { endpoint, region: "us-east-1", credentials: CREDENTIALS },
    clock: () => now,
    autoStart: false,
  });
  m.record({ identity: CA1, dimension: "api_calls", quantity: 7 });
  m.record({ identity: CA1, dimension: "gb_stored", quantity: 3 });
  m.record({ identity: NOT_SUBSCRIBED, dimension: "api_calls", quantity: 2 });
  now += HOUR_MS;
  await m.flush();
  m.record({ identity: CA1, dimension: "api_calls", quantity: 4 });
  await m.checkpoint();
  await m.close();
  return { sentHour, pendingHour: sentHour + HOUR_MS };
}

/**
 * A store with one grain of CA1 `hoursAgo` hours ago, due to be sent now. Each test takes its own hour:
 * AWS bills the first record of a grain and refuses a different one later.
 */
export async function dueGrain(path: string, endpoint: string, hoursAgo: number): Promise<void> {
  const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - hoursAgo * HOUR_MS;
  const m = createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: ["api_calls"],
    store: sqliteStore({ path }),
    aws: { endpoint, region: "us-east-1", credentials: CREDENTIALS },
    clock: () => hour + 60_000,
    autoStart: false,
  });
  m.record({ identity: CA1, dimension: "api_calls", quantity: 2 });
  await m.close();
}

export const CONFIG = {
  products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
  dimensions: ["api_calls", "gb_stored"],
  region: "us-east-1",
};
