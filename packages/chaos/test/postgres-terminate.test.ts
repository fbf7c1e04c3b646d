// Defects the chaos run found: terminating PostgreSQL backends (pg_terminate_backend, a failover, a
// restart) crashed the whole app process with an unhandled 'error' event on a pg client the store held
// (inside a transaction, or just handed out by the pool), taking every in-flight request and all unsaved
// usage with it. Each probe runs in its own process, so a crash is an exit code, not a test-runner error.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { beforeAll, describe, expect, it } from "vitest";
import { assertBuilt } from "./built.js";

const url = process.env.DATABASE_URL;
if (!url && process.env.CI) throw new Error("DATABASE_URL is not set: CI must start PostgreSQL");
beforeAll(assertBuilt);
const dist = join(dirname(fileURLToPath(import.meta.url)), "..", "dist");

async function probe(name: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const schema = `mm_probe_${randomBytes(6).toString("hex")}`;
  const child = fork(join(dist, `${name}.js`), [], {
    env: { ...process.env, PROBE_SCHEMA: schema },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", (c) => resolve(c)));
  // A crashed probe leaves its schema behind.
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await admin.end();
  return { code, stderr: stderr.split("\n").slice(0, 6).join("\n"), stdout };
}

describe.runIf(url !== undefined)("postgres stores, backends terminated", () => {
  it("mid-transaction: that operation fails or retries without crashing the process; the next works", async () => {
    const { code, stderr, stdout } = await probe("probe-terminate");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(stdout.trim()) as { first: string; second: string };
    expect(["ok", "STORE_ERROR"]).toContain(result.first);
    expect(result.second).toBe("ok");
  }, 30_000);

  it("80 times under load, new connections included: operations fail, the process survives", async () => {
    const { code, stderr, stdout } = await probe("probe-storm");
    expect({ code, stderr }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(stdout.trim()) as { ok: number; failed: number };
    // The storm must have hit operations in flight, and the stores kept working between the cuts.
    expect(result.failed).toBeGreaterThan(0);
    expect(result.ok).toBeGreaterThan(result.failed);
  }, 60_000);
});
