// A private redis-server for one chaos run, so it can be shut down and started again mid-run without
// touching anyone else's Redis: loopback only, a free port, an append-only file fsynced on every write
// in its own temporary directory (a clean restart keeps every acknowledged write).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";

export interface PrivateRedis {
  readonly url: string;
  readonly port: number;
  /** SHUTDOWN (the append-only file is flushed), then the same server again: same port, same data. */
  restart(): Promise<void>;
  /** Stops the server and deletes its directory. */
  stop(): Promise<void>;
}

const READY_MS = 15_000;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", resolve);
  });
  const { port } = s.address() as { port: number };
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** Starts `redis-server` and resolves once it accepts connections; rejects if it exits first. */
function launch(port: number, dir: string): Promise<ChildProcess> {
  const proc = spawn(
    "redis-server",
    [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--appendonly",
      "yes",
      "--appendfsync",
      "always",
      "--save",
      "",
      "--maxmemory-policy",
      "noeviction",
      "--daemonize",
      "no",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill("SIGKILL");
      reject(new Error(`redis-server on port ${port} was not ready within ${READY_MS} ms:\n${output}`));
    }, READY_MS);
    const onData = (d: Buffer) => {
      output += d;
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        proc.stdout?.off("data", onData);
        // Keep draining its output so a full pipe never blocks the server.
        proc.stdout?.resume();
        resolve(proc);
      }
    };
    proc.stdout?.on("data", onData);
    proc.stderr?.on("data", (d: Buffer) => {
      output += d;
    });
    proc.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot start redis-server (is it on PATH?): ${err.message}`));
    });
    proc.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`redis-server on port ${port} exited (${code ?? signal}) before it was ready:\n${output}`),
      );
    });
  });
}

const exited = (proc: ChildProcess): Promise<void> =>
  proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve()
    : new Promise((resolve) => proc.once("exit", () => resolve()));

/** SHUTDOWN as an operator would: the server flushes the append-only file and closes every connection. */
async function shutdown(url: string): Promise<void> {
  const c = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on("error", () => {});
  try {
    await c.connect();
    // The server answers by closing the connection, which rejects the command.
    await c.call("SHUTDOWN").catch(() => {});
  } finally {
    c.disconnect();
  }
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), "mm-chaos-redis-"));
  let port = 0;
  let proc: ChildProcess | undefined;
  // Another process may take a free port between the check and the start: try a few.
  for (let attempt = 1; !proc; attempt++) {
    port = await freePort();
    try {
      proc = await launch(port, dir);
    } catch (err) {
      if (attempt === 3) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  let current: ChildProcess = proc;
  // Never outlive the test process.
  const reap = () => current.kill("SIGKILL");
  process.once("exit", reap);
  const url = `redis://127.0.0.1:${port}/0`;
  return {
    url,
    port,
    async restart() {
      const gone = exited(current);
      await shutdown(url);
      await gone;
      current = await launch(port, dir);
    },
    async stop() {
      process.off("exit", reap);
      const gone = exited(current);
      current.kill("SIGTERM");
      await gone;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
