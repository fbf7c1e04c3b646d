// The built CLI (`node dist/main.js`) as `pnpm start` runs it: its own process group, real signals,
// real ports. Only a real process shows that a second Ctrl-C does not cut the shutdown short.
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { defined } from "./defined.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const main = join(root, "dist", "main.js");
const newest = (dir: string): number =>
  Math.max(
    0,
    ...readdirSync(dir).map((name) => {
      const s = statSync(join(dir, name));
      return s.isDirectory() ? newest(join(dir, name)) : s.mtimeMs;
    }),
  );

beforeAll(() => {
  if ((statSync(main, { throwIfNoEntry: false })?.mtimeMs ?? 0) < newest(join(root, "src")))
    throw new Error("dist/ is older than src/: run `pnpm build` first");
});

const dirs: string[] = [];
const children: ChildProcessWithoutNullStreams[] = [];
const servers: Server[] = [];
afterEach(() => {
  for (const c of children.splice(0))
    if (c.exitCode === null && c.signalCode === null) process.kill(-defined(c.pid), "SIGKILL");
  for (const s of servers.splice(0)) s.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function start(env: Record<string, string>) {
  const dataDir = mkdtempSync(join(tmpdir(), "{{name}}-cli-"));
  dirs.push(dataDir);
  const clean = Object.fromEntries(
    // The starter reads these; CI sets the shared stores' URLs for other tests.
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith("MARKETMETER_") && !["PORT", "DATABASE_URL", "REDIS_URL"].includes(k),
    ),
  );
  // detached: a process group of its own, like the one a terminal's Ctrl-C signals.
  const proc = spawn(process.execPath, [main], {
    cwd: root,
    detached: true,
    env: {
      ...clean,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      NO_COLOR: "1",
      PORT: "0",
      MARKETMETER_EMULATOR_PORT: "0",
      MARKETMETER_DATA_DIR: dataDir,
      ...env,
    },
  });
  children.push(proc);
  let out = "";
  let err = "";
  const waiters: Array<() => void> = [];
  const wake = () => {
    for (const w of waiters.splice(0)) w();
  };
  proc.stdout.on("data", (d) => {
    out += d;
    wake();
  });
  proc.stderr.on("data", (d) => {
    err += d;
    wake();
  });
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on("close", (code, signal) => resolve({ code, signal })),
  );
  const waitFor = async (re: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      const m = re.exec(out + err);
      if (m) return m;
      if (proc.exitCode !== null || proc.signalCode !== null)
        throw new Error(`{{name}} ended before printing ${re}:\n${out}\n${err}`);
      await Promise.race([new Promise<void>((r) => waiters.push(r)), ended]);
    }
  };
  return { proc, dataDir, waitFor, ended, out: () => out, err: () => err };
}

/** A loopback port that something else holds. */
async function busyPort(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return (server.address() as { port: number }).port;
}

async function json<T>(url: string, body?: unknown): Promise<T> {
  const res = await fetch(url, {
    method: body === undefined ? "GET" : "POST",
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

/** A buyer subscribes and signs up through the app's own pages; returns the API key. */
async function signUp(app: string, emulator: string): Promise<string> {
  const sub = await json<{ license: { licenseArn: string } }>(`${emulator}/_emulator/buyers/subscribe`, {
    productCode: "pca1234567890abcdefghijkl",
    customerAWSAccountId: "444455556666",
  });
  const { token } = await json<{ token: string }>(`${emulator}/_emulator/tokens`, {
    licenseArn: sub.license.licenseArn,
  });
  const form = (f: Record<string, string>, cookie = "") =>
    ({ method: "POST", body: new URLSearchParams(f), redirect: "manual", headers: { cookie } }) as const;
  const registered = await fetch(`${app}/marketplace/register`, form({ "x-amzn-marketplace-token": token }));
  const registration = defined(
    new URL(defined(registered.headers.get("location")), app).searchParams.get("registration"),
  );
  const done = await fetch(`${app}/signup`, form({ registration, name: "Ann", email: "ann@example.com" }));
  expect(done.status).toBe(303);
  const cookie = defined(defined(done.headers.get("set-cookie")).split(";")[0]);
  const page = await (await fetch(`${app}/signup/done`, { headers: { cookie } })).text();
  return defined(/mm_[A-Za-z0-9_-]{32}/.exec(page))[0];
}

/** A request the server has started (it answered 100-continue) and waits to finish: shutdown waits too. */
async function inFlight(app: string): Promise<() => void> {
  const req = request(`${app}/signup`, {
    method: "POST",
    headers: {
      expect: "100-continue",
      "content-type": "application/x-www-form-urlencoded",
      "content-length": "64",
    },
  });
  req.on("error", () => {});
  req.flushHeaders();
  await new Promise<void>((r) => req.once("continue", r));
  return () => req.destroy();
}

describe("{{name}} CLI", () => {
  it("Ctrl-C under pnpm (two SIGINTs to the process group) sends the due hour and exits 0", async () => {
    const cli = start({});
    const [, app] = await cli.waitFor(/app: +(http:\/\/\S+)\//);
    const [, emulator] = await cli.waitFor(/AWS endpoint: +(http:\/\/\S+) /);
    await cli.waitFor(/Press Ctrl-C to stop/);
    const key = await signUp(defined(app), defined(emulator));
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${app}/api/quotes?symbol=ACME`, {
        headers: { authorization: `Bearer ${key}` },
      });
      expect(res.status).toBe(200);
    }
    // The hour of those calls becomes due: past its end and the 5-minute grace period.
    const { now } = await json<{ now: string }>(`${emulator}/_emulator/clock`);
    const hour = Math.floor(Date.parse(now) / 3_600_000) * 3_600_000;
    await json(`${emulator}/_emulator/clock`, { advanceMs: hour + 3_600_000 + 301_000 - Date.parse(now) });
    const release = await inFlight(defined(app));

    process.kill(-defined(cli.proc.pid), "SIGINT");
    await cli.waitFor(/\bSIGINT\b/);
    // pnpm forwards the same Ctrl-C a moment later; the shutdown is still waiting for the request.
    process.kill(-defined(cli.proc.pid), "SIGINT");
    await cli.waitFor(/shutdown is in progress/);
    release();

    expect(await cli.ended).toEqual({ code: 0, signal: null });
    const after = cli.out().slice(cli.out().indexOf("SIGINT received"));
    expect(after).toMatch(/emulator: .*BatchMeterUsage 200/);
    expect(after).toContain("Stopped: the usage that was due is sent");
    const left = readdirSync(join(cli.dataDir, "demo")).filter((f) => /-(wal|shm)$/.test(f));
    expect(left).toEqual([]);
  });

  it("a busy app port names PORT, a busy emulator port names MARKETMETER_EMULATOR_PORT; both exit 1", async () => {
    const taken = await busyPort();
    const app = start({ PORT: String(taken) });
    expect(await app.ended).toEqual({ code: 1, signal: null });
    expect(app.err()).toContain(`port ${taken} is in use; set PORT=`);
    const emu = start({ MARKETMETER_EMULATOR_PORT: String(taken) });
    expect(await emu.ended).toEqual({ code: 1, signal: null });
    expect(emu.err()).toContain(
      `port ${taken} (the AWS Marketplace emulator) is in use; set MARKETMETER_EMULATOR_PORT=`,
    );
  });

  it("real-AWS mode without MARKETMETER_WEBHOOK_SECRET starts with a loud warning naming it", async () => {
    const cli = start({
      MARKETMETER_PRODUCT_CODE: "pca1234567890abcdefghijkl",
      AWS_REGION: "us-east-1",
      // Nothing may leave loopback, even by mistake.
      AWS_ENDPOINT_URL: "http://127.0.0.1:9",
      AWS_ACCESS_KEY_ID: "AKIDEXAMPLE",
      AWS_SECRET_ACCESS_KEY: "example",
    });
    await cli.waitFor(/running against AWS Marketplace in us-east-1/);
    expect(cli.err()).toMatch(/WARNING: MARKETMETER_WEBHOOK_SECRET is not set\.\n.*EventBridge/);
    process.kill(-defined(cli.proc.pid), "SIGTERM");
    expect(await cli.ended).toEqual({ code: 0, signal: null });
  });
});
