// The built CLI against Redis: a store filled by a real marketplace under its own key prefix, a Redis
// that does not answer, a wrong URL, and a password that never reaches the output.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { redisStore } from "@marketmeter/redis";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkBuilt, cli, fill } from "./helpers.js";

// A test that needs Redis fails under CI when REDIS_URL is missing (a missing service must not pass as
// green); locally it is skipped.
const REDIS_URL = process.env.REDIS_URL;
if (!REDIS_URL && process.env.CI)
  throw new Error("REDIS_URL is not set: CI must start Redis (scripts/services.sh)");

/** `usage` of the demo buyer A1 over the last day, as JSON, from the store the app wrote. */
const usageOfA1 = (store: string, keyPrefix: string) => [
  "usage",
  "--store",
  store,
  "--key-prefix",
  keyPrefix,
  "--customer",
  DEMO.A1,
  "--from",
  "-1d",
  "--json",
];

describe.runIf(REDIS_URL !== undefined)("Redis store", () => {
  const url = REDIS_URL as string;
  const keyPrefix = `mm-cli-${randomBytes(5).toString("hex")}`;
  let emu: Emulator;
  let dir: string;
  let admin: Redis;

  beforeAll(async () => {
    checkBuilt();
    emu = await startEmulator({ port: 0, config: demoConfig({ now: Date.now() }), seed: 18 });
    dir = mkdtempSync(join(tmpdir(), "marketmeter-cli-redis-"));
    admin = new Redis(url, { maxRetriesPerRequest: 1 });
    await fill(redisStore({ url, keyPrefix }), emu.endpoint);
  });

  afterAll(async () => {
    if (admin) {
      const keys = await admin.keys(`{${keyPrefix}}:*`);
      if (keys.length > 0) await admin.del(...keys);
      await admin.quit();
    }
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => cli(args, { cwd: dir });
  /** The test server's URL with a user it does not have: Redis refuses the AUTH (WRONGPASS). */
  const withPassword = (password: string) => {
    const u = new URL(url);
    u.username = `mm-no-such-user-${randomBytes(3).toString("hex")}`;
    u.password = password;
    return u.href;
  };

  it("status and usage read the store the app wrote, under the app's key prefix", async () => {
    const s = await run(["status", "--store", url, "--key-prefix", keyPrefix, "--json"]);
    expect(s.code).toBe(1);
    expect(JSON.parse(s.stdout).counts).toMatchObject({ sent: 2, rejected: 1, pending: 1 });
    const u = await run(usageOfA1(url, keyPrefix));
    expect(u.code).toBe(0);
    const rows = JSON.parse(u.stdout).rows as Array<{ state: string; meteringRecordId: string }>;
    expect(rows).toHaveLength(3);
    expect(rows.filter((r) => r.state === "sent")).toHaveLength(2);
    expect(rows.filter((r) => r.state === "sent").every((r) => r.meteringRecordId.length > 0)).toBe(true);
  });

  it("gives up on a Redis that accepts connections but never answers, with exit 3 and no password", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as { port: number };
    try {
      const r = await run([
        "status",
        "--store",
        `redis://default:hunter2secret@127.0.0.1:${port}/0`,
        "--timeout",
        "1s",
        "--json",
      ]);
      expect(r.code).toBe(3);
      expect(JSON.parse(r.stdout).error.code).toBe("STORE_UNREACHABLE");
      expect(r.stderr).toContain(`127.0.0.1:${port}`);
      expect(r.stdout + r.stderr).not.toContain("hunter2secret");
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });

  it("refuses a port where nothing listens with exit 3, naming host and port", async () => {
    const closed: Server = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const { port } = closed.address() as { port: number };
    await new Promise<void>((r) => closed.close(() => r()));
    const r = await run(["status", "--store", `redis://127.0.0.1:${port}`, "--timeout", "2s"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`127.0.0.1:${port}`);
  });

  it("says what is wrong with a wrong URL: not a database number (exit 2), a database that does not exist (exit 3)", async () => {
    const path = new URL(url);
    path.pathname = "/cache";
    const bad = await run(["status", "--store", path.href]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("database number");

    const missing = new URL(url);
    missing.pathname = "/99999";
    const r = await run(["status", "--store", missing.href, "--timeout", "2s"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("check the database number");
  });

  it("refuses a malformed percent-escape in the user or password (exit 2) without printing the password", async () => {
    const secret = `pw${randomBytes(6).toString("hex")}`;
    const user = new URL(url);
    user.username = "%";
    user.password = secret;
    const r = await run(["status", "--store", user.href.replace("%25", "%")]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("malformed percent-escape in the user name");
    expect(r.stdout + r.stderr).not.toContain(secret);
    const pg = await run(["status", "--store", `postgres://app:${secret}%zz@127.0.0.1:1/db`]);
    expect(pg.code).toBe(2);
    expect(pg.stderr).toContain("malformed percent-escape in the password");
    expect(pg.stdout + pg.stderr).not.toContain(secret);
  });

  it("never prints the password: not on a refused AUTH, not in status output", async () => {
    const secret = `pw-${randomBytes(8).toString("hex")}`;
    const r = await run(["status", "--store", withPassword(secret), "--key-prefix", keyPrefix, "--json"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/check the user and password/);
    expect(r.stdout + r.stderr).not.toContain(secret);
    const text = await run(["status", "--store", withPassword(secret), "--key-prefix", keyPrefix]);
    expect(text.code).toBe(3);
    expect(text.stdout + text.stderr).not.toContain(secret);
  });
});

const CLUSTER = process.env.REDIS_CLUSTER_NODES;
if (!CLUSTER && process.env.CI)
  throw new Error("REDIS_CLUSTER_NODES is not set: CI must start the Redis Cluster (scripts/services.sh)");

describe.runIf(CLUSTER !== undefined)("Redis Cluster store", () => {
  const seed = (CLUSTER as string).split(",")[0] as string;
  const keyPrefix = `mm-cli-cl-${randomBytes(5).toString("hex")}`;
  let emu: Emulator;
  let dir: string;

  beforeAll(async () => {
    checkBuilt();
    emu = await startEmulator({ port: 0, config: demoConfig({ now: Date.now() }), seed: 18 });
    dir = mkdtempSync(join(tmpdir(), "marketmeter-cli-cluster-"));
    await fill(redisStore({ url: `redis://${seed}`, cluster: true, keyPrefix }), emu.endpoint);
  });

  afterAll(async () => {
    for (const hp of (CLUSTER as string).split(",")) {
      const [host, port] = hp.split(":");
      const r = new Redis({ host, port: Number(port), maxRetriesPerRequest: 1 });
      const keys = await r.keys(`{${keyPrefix}}:*`);
      for (const k of keys) await r.del(k);
      await r.quit();
    }
    await emu?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[]) => cli(args, { cwd: dir });

  it("status and usage read the store through redis+cluster://, a seed node of the Cluster", async () => {
    const s = await run([
      "status",
      "--store",
      `redis+cluster://${seed}`,
      "--key-prefix",
      keyPrefix,
      "--json",
    ]);
    expect(s.code).toBe(1);
    const status = JSON.parse(s.stdout);
    expect(status.counts).toMatchObject({ sent: 2, rejected: 1, pending: 1 });
    const u = await run(usageOfA1(`redis+cluster://${seed}`, keyPrefix));
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout).rows).toHaveLength(3);
  });

  it("a plain redis:// URL to a Cluster node is refused with exit 3, naming redis+cluster://", async () => {
    const r = await run(["status", "--store", `redis://${seed}`, "--key-prefix", keyPrefix]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("is a node of a Redis Cluster");
    expect(r.stderr).toContain(`--store redis+cluster://${seed}`);
  });
});
