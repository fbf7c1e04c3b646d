import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MarketplaceMeteringClient, ResolveCustomerCommand } from "@aws-sdk/client-marketplace-metering";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { defined } from "./defined.js";
import { credentials, DEMO } from "./helpers.js";

const pkg = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(pkg, "dist", "cli.js");

function newestMtime(dir: string): number {
  let max = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    max = Math.max(max, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return max;
}

beforeAll(() => {
  // The CLI test runs the built file; rebuild when dist is missing or older than the sources.
  if (!existsSync(cli) || statSync(cli).mtimeMs < newestMtime(join(pkg, "src"))) {
    execFileSync("pnpm", ["run", "build"], { cwd: pkg, stdio: "pipe", timeout: 120_000 });
  }
}, 150_000);

let child: ChildProcessWithoutNullStreams | undefined;
afterEach(() => {
  if (child && child.exitCode === null) child.kill("SIGKILL");
  child = undefined;
});

function start(args: string[]) {
  const proc = spawn(process.execPath, [cli, ...args], { cwd: pkg, env: { ...process.env, NO_COLOR: "1" } });
  child = proc;
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  const waitFor = (re: RegExp) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = re.exec(out);
        if (m) {
          clearInterval(timer);
          resolve(m);
        } else if (proc.exitCode !== null) {
          clearInterval(timer);
          reject(new Error(`CLI exited (${proc.exitCode}) before printing ${re}: ${out}${err}`));
        }
      }, 20);
    });
  // "close", not "exit": it fires once stdout and stderr have been read to the end.
  const exited = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  return { proc, waitFor, exited, output: () => out, errors: () => err };
}

describe("marketmeter-emulator CLI", () => {
  it("starts with --port 0 --demo, prints its endpoint and billing page, logs one line per call without the token, stops on SIGTERM", async () => {
    const run = start(["--port", "0", "--demo"]);
    const [, endpoint] = await run.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)/);
    // Each line is its own write, so the next one may arrive in a later chunk: wait for it.
    await run.waitFor(/billing page: /);
    expect(run.output()).toContain(`billing page: ${endpoint}/_emulator/`);
    const client = new MarketplaceMeteringClient({
      region: "eu-west-1",
      endpoint,
      credentials,
      maxAttempts: 1,
    });
    const out = await client.send(new ResolveCustomerCommand({ RegistrationToken: DEMO.T_OK }));
    expect(out.LicenseArn).toBe(DEMO.L1);
    const [line] = await run.waitFor(
      /^\d\d:\d\d:\d\d eu-west-1 ResolveCustomer 200 token#[0-9a-f]{8} → 123456789012$/m,
    );
    expect(line).not.toContain(DEMO.T_OK);
    expect(run.output()).not.toContain(DEMO.T_OK);
    run.proc.kill("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("two SIGINTs in quick succession (Ctrl-C under pnpm) still shut down cleanly with exit code 0", async () => {
    const run = start(["--port", "0", "--quiet"]);
    // The first ready line: the signal must already be handled when the CLI says it is listening.
    await run.waitFor(/listening on /);
    // As a terminal and pnpm do: the same signal twice, a moment apart.
    run.proc.kill("SIGINT");
    run.proc.kill("SIGINT");
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain("received SIGINT, shutting down");
  });

  it("a busy --port is named with the fix, exit 1", async () => {
    const first = start(["--port", "0", "--quiet"]);
    const [, port] = await first.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    const second = start(["--port", defined(port), "--quiet"]);
    // `child` tracks the last start(); keep the first one killed at the end too.
    const exited = await second.exited;
    first.proc.kill("SIGKILL");
    expect(exited).toBe(1);
    expect(second.errors()).toContain(`port ${port} is in use; pass --port <a free port>`);
  });

  it("--help prints usage; a non-loopback --host is refused without --allow-remote", async () => {
    const help = start(["--help"]);
    expect(await help.exited).toBe(0);
    expect(help.output()).toContain("--allow-remote");
    const remote = start(["--host", "0.0.0.0", "--port", "0"]);
    expect(await remote.exited).toBe(2);
    expect(remote.errors()).toMatch(/refusing --host 0\.0\.0\.0.*--allow-remote/s);
    const bad = start(["--port", "x"]);
    expect(await bad.exited).toBe(2);
  });
});
