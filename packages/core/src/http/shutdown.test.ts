import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import type { Logger } from "../runtime/index.js";
import { closeOnShutdown } from "./shutdown.js";
import { dryMarketplace, ID } from "./testbed.test-helper.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
  vi.useRealTimers();
});
const isClosed = (m: ReturnType<typeof dryMarketplace>) => {
  try {
    m.record({ identity: ID, dimension: "api_calls", quantity: 1 });
    return false;
  } catch (err) {
    return isMarketplaceError(err, "CLOSED");
  }
};
/** The marketplace behind a target that counts its close() calls. */
const counted = (m: ReturnType<typeof dryMarketplace>) => {
  const target = {
    calls: 0,
    closed: undefined as Promise<void> | undefined,
    close() {
      target.calls += 1;
      target.closed = m.close();
      return target.closed;
    },
  };
  return target;
};
const recording = () => {
  const lines: Array<[string, object, string | undefined]> = [];
  const logger: Logger = {
    debug: (o, m) => lines.push(["debug", o, m]),
    info: (o, m) => lines.push(["info", o, m]),
    warn: (o, m) => lines.push(["warn", o, m]),
    error: (o, m) => lines.push(["error", o, m]),
  };
  return { lines, logger };
};

describe("closeOnShutdown", () => {
  it("closes the marketplace when the server closes on its own", async () => {
    const m = dryMarketplace();
    const target = counted(m);
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const wiring = closeOnShutdown(server, target, { signals: [] });
    cleanups.push(wiring.dispose);
    // The hook listens to "close" before this callback, so it has run when the callback does.
    await new Promise((r) => server.close(r));
    expect(target.calls).toBe(1);
    await target.closed;
    expect(isClosed(m)).toBe(true);
    // shutdown() after that closes nothing twice.
    await wiring.shutdown();
    expect(target.calls).toBe(1);
  });

  it("on a signal, stops the server and closes the marketplace; the listener stays until closing is done", async () => {
    const before = process.listenerCount("SIGTERM");
    const m = dryMarketplace();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const target = {
      close: async () => {
        await held;
        await m.close();
      },
    };
    const { lines, logger } = recording();
    const wiring = closeOnShutdown(server, target, { signals: ["SIGTERM"], exit: false, logger });
    cleanups.push(wiring.dispose);
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    process.emit("SIGTERM", "SIGTERM");
    expect(server.listening).toBe(false);
    // While closing, a repeated signal must find our listener (or Node's default would kill the process).
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    process.emit("SIGTERM", "SIGTERM");
    expect(lines.map(([level, , msg]) => `${level} ${msg}`)).toEqual([
      "info marketmeter: SIGTERM received, shutting down (sending what is due)",
      "warn marketmeter: SIGTERM received again; shutdown is in progress (sending what is due). Send it once more to force exit.",
    ]);
    release();
    await wiring.shutdown();
    expect(isClosed(m)).toBe(true);
    expect(process.listenerCount("SIGTERM")).toBe(before);

    const sigint = process.listenerCount("SIGINT");
    const other = closeOnShutdown(undefined, dryMarketplace(), { signals: ["SIGINT"] });
    expect(process.listenerCount("SIGINT")).toBe(sigint + 1);
    other.dispose();
    expect(process.listenerCount("SIGINT")).toBe(sigint);
    await other.shutdown();
  });

  it("gives close() 25 s by default, then logs and goes on", async () => {
    vi.useFakeTimers();
    const { lines, logger } = recording();
    const wiring = closeOnShutdown(
      undefined,
      { close: () => new Promise<void>(() => {}) },
      {
        signals: [],
        logger,
      },
    );
    let done = false;
    const finished = wiring.shutdown().then(() => (done = true));
    await vi.advanceTimersByTimeAsync(24_999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await finished;
    expect(lines).toEqual([
      ["error", { timeoutMs: 25_000 }, "marketmeter: close() did not finish in time during shutdown"],
    ]);
  });

  it("validates its arguments", () => {
    const m = dryMarketplace();
    cleanups.push(() => void m.close());
    expect(() => closeOnShutdown(undefined, {} as never)).toThrow(
      expect.objectContaining({ code: "INVALID_CONFIG" }),
    );
    expect(() => closeOnShutdown({} as never, m)).toThrow(/server/);
    expect(() => closeOnShutdown(undefined, m, { signals: ["TERM" as never] })).toThrow(/signals/);
    expect(() => closeOnShutdown(undefined, m, { timeoutMs: -1 })).toThrow(/timeoutMs/);
    expect(() => closeOnShutdown(undefined, m, { exit: "yes" as never })).toThrow(/exit/);
  });
});

// Real signals to a real process: only a child can show that a second signal does not kill it.
describe("closeOnShutdown in a child process", () => {
  const here = dirname(fileURLToPath(import.meta.url));
  const dist = join(here, "..", "..", "dist", "index.js");
  let dir: string;
  let script: string;
  beforeAll(() => {
    // The child runs the built package; a dist older than this file's subject would test old code.
    if (
      (statSync(dist, { throwIfNoEntry: false })?.mtimeMs ?? 0) < statSync(join(here, "shutdown.ts")).mtimeMs
    )
      throw new Error("packages/core/dist is older than src/http/shutdown.ts: run `pnpm build` first");
    dir = mkdtempSync(join(tmpdir(), "mm-shutdown-"));
    script = join(dir, "child.mjs");
    // close() waits for "release" on stdin, so the test decides how long the shutdown lasts.
    writeFileSync(
      script,
      `import { createServer } from "node:http";
import { closeOnShutdown } from ${JSON.stringify(pathToFileURL(dist).href)};
const say = (line) => process.stdout.write(line + "\\n");
const logger = { debug() {}, info: (o, m) => say("info " + m), warn: (o, m) => say("warn " + m), error: (o, m) => say("error " + m) };
let release;
const held = new Promise((r) => (release = r));
process.stdin.on("data", (d) => { if (String(d).includes("release")) release(); });
const target = { async close() { say("closing"); await held; say("closed"); } };
const server = createServer();
server.listen(0, "127.0.0.1", () => {
  const exit = process.argv[2] === "code" ? "code" : true;
  closeOnShutdown(server, target, { logger, exit });
  say("ready");
});
`,
    );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  let child: ChildProcessWithoutNullStreams | undefined;
  afterEach(() => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  function run(mode: "signal" | "code") {
    const proc = spawn(process.execPath, [script, mode], { stdio: "pipe" });
    child = proc;
    let out = "";
    const waiters: Array<() => void> = [];
    proc.stdout.on("data", (d) => {
      out += d;
      for (const w of waiters.splice(0)) w();
    });
    proc.stderr.on("data", (d) => (out += d));
    const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.on("close", (code, signal) => resolve({ code, signal })),
    );
    const waitFor = async (text: string) => {
      while (!out.includes(text)) {
        if (proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(`child ended before printing "${text}":\n${out}`);
        await Promise.race([new Promise<void>((r) => waiters.push(r)), ended]);
      }
    };
    return { proc, waitFor, ended, output: () => out };
  }

  it("a second SIGINT during shutdown is ignored with a line; the process then ends by the signal", async () => {
    const c = run("signal");
    await c.waitFor("ready");
    c.proc.kill("SIGINT");
    await c.waitFor("closing");
    c.proc.kill("SIGINT");
    await c.waitFor("shutdown is in progress");
    c.proc.stdin.write("release\n");
    expect(await c.ended).toEqual({ code: null, signal: "SIGINT" });
    expect(c.output()).toContain("closed");
  });

  it('with exit: "code", a clean shutdown after two SIGINTs exits 0', async () => {
    const c = run("code");
    await c.waitFor("ready");
    c.proc.kill("SIGINT");
    await c.waitFor("closing");
    c.proc.kill("SIGINT");
    await c.waitFor("shutdown is in progress");
    c.proc.stdin.write("release\n");
    expect(await c.ended).toEqual({ code: 0, signal: null });
    expect(c.output()).toContain("closed");
  });

  it("a third signal forces exit with 128 + the signal number, and says so", async () => {
    const c = run("code");
    await c.waitFor("ready");
    c.proc.kill("SIGTERM");
    await c.waitFor("closing");
    c.proc.kill("SIGINT");
    await c.waitFor("shutdown is in progress");
    c.proc.kill("SIGINT");
    expect(await c.ended).toEqual({ code: 130, signal: null });
    expect(c.output()).toContain("error marketmeter: SIGINT received a third time; forced exit");
    expect(c.output()).not.toContain("closed");
  });
});
