// A defect the chaos run found: terminating a PostgreSQL backend that the store held inside a
// transaction crashed the whole app process (an 'error' event on the checked-out pg client, with no
// listener), taking every in-flight request and all unsaved usage with it.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { describe, expect, it } from "vitest";

const url = process.env.DATABASE_URL;
if (!url && process.env.CI) throw new Error("DATABASE_URL is not set: CI must start PostgreSQL");
const probe = join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "probe-terminate.js");

describe.runIf(url !== undefined)("postgres store, backend terminated mid-transaction", () => {
  it("fails or retries that operation without crashing the process; the next one works", async () => {
    const schema = `mm_probe_${randomBytes(6).toString("hex")}`;
    const child = fork(probe, [], {
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
    const [code] = await new Promise<[number | null, string | null]>((resolve) =>
      child.once("exit", (c, s) => resolve([c, s])),
    );
    // A crashed probe leaves its schema behind.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
    expect({ code, stderr: stderr.split("\n").slice(0, 6).join("\n") }).toEqual({ code: 0, stderr: "" });
    const result = JSON.parse(stdout.trim()) as { first: string; second: string };
    expect(["ok", "STORE_ERROR"]).toContain(result.first);
    expect(result.second).toBe("ok");
  }, 30_000);
});
