// Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe): no browser
// download and no driver package, only the Chromium already on the machine.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);

type Message = { id?: number; method?: string; params?: Record<string, unknown>; sessionId?: string };
type Reply = { id: number; result?: unknown; error?: { message: string } };

/** What a page did while it was open: requests, console and log lines (CSP violations land there). */
export interface PageLog {
  requests: string[];
  documents: Array<{ url: string; status: number }>;
  problems: string[];
}

export interface Browser {
  /** A fresh tab; every request it makes outside 127.0.0.1 is refused and recorded. */
  open(headers?: Record<string, string>): Promise<Tab>;
  close(): Promise<void>;
}

export interface Tab {
  log: PageLog;
  /** Navigates and resolves once the load event fired. */
  goto(url: string): Promise<void>;
  /** Evaluates an expression in the page (DevTools evaluation, not subject to the page's CSP). */
  evaluate<T>(expression: string): Promise<T>;
  /** Presses Tab once, as a keyboard user would. */
  tab(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "mm-chromium-"));
  const child: ChildProcess = spawn(
    CHROMIUM,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--remote-debugging-pipe",
      `--user-data-dir=${profile}`,
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-default-apps",
      "--disable-sync",
      "--disable-extensions",
      "about:blank",
    ],
    { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] },
  );
  const write = child.stdio[3] as Writable;
  const read = child.stdio[4] as Readable;
  let nextId = 1;
  const waiting = new Map<number, (reply: Reply) => void>();
  const listeners = new Set<(m: Message) => void>();
  let buffer = "";
  read.setEncoding("utf8");
  read.on("data", (chunk: string) => {
    buffer += chunk;
    for (let end = buffer.indexOf("\0"); end >= 0; end = buffer.indexOf("\0")) {
      const message = JSON.parse(buffer.slice(0, end)) as Message & Reply;
      buffer = buffer.slice(end + 1);
      if (message.id !== undefined && waiting.has(message.id)) {
        waiting.get(message.id)?.(message);
        waiting.delete(message.id);
      } else for (const l of listeners) l(message);
    }
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const send = <T>(method: string, params: Record<string, unknown> = {}, sessionId?: string) =>
    new Promise<T>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, (reply) =>
        reply.error ? reject(new Error(`${method}: ${reply.error.message}`)) : resolve(reply.result as T),
      );
      write.write(`${JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) })}\0`);
    });

  return {
    async open(headers = {}) {
      const { targetId } = await send<{ targetId: string }>("Target.createTarget", { url: "about:blank" });
      const { sessionId } = await send<{ sessionId: string }>("Target.attachToTarget", {
        targetId,
        flatten: true,
      });
      const log: PageLog = { requests: [], documents: [], problems: [] };
      let loaded: (() => void) | undefined;
      listeners.add((m) => {
        if (m.sessionId !== sessionId) return;
        const p = m.params ?? {};
        if (m.method === "Page.loadEventFired") loaded?.();
        else if (m.method === "Log.entryAdded") {
          const entry = p.entry as { level: string; text: string };
          log.problems.push(`${entry.level}: ${entry.text}`);
        } else if (m.method === "Runtime.consoleAPICalled" || m.method === "Runtime.exceptionThrown")
          log.problems.push(`${m.method}: ${JSON.stringify(p).slice(0, 300)}`);
        else if (m.method === "Network.responseReceived" && p.type === "Document") {
          const r = p.response as { url: string; status: number };
          log.documents.push({ url: r.url, status: r.status });
        } else if (m.method === "Fetch.requestPaused") {
          const url = (p.request as { url: string }).url;
          log.requests.push(url);
          // Nothing may leave loopback.
          const local = new URL(url).hostname === "127.0.0.1";
          void send(
            local ? "Fetch.continueRequest" : "Fetch.failRequest",
            local ? { requestId: p.requestId } : { requestId: p.requestId, errorReason: "BlockedByClient" },
            sessionId,
          ).catch(() => {});
        }
      });
      for (const domain of ["Page", "Runtime", "Log", "Network"])
        await send(`${domain}.enable`, {}, sessionId);
      await send("Fetch.enable", { patterns: [{ urlPattern: "*" }] }, sessionId);
      await send("Network.setExtraHTTPHeaders", { headers }, sessionId);
      return {
        log,
        async goto(url) {
          const done = new Promise<void>((resolve) => {
            loaded = resolve;
          });
          await send("Page.navigate", { url }, sessionId);
          await done;
        },
        async evaluate<T>(expression: string) {
          const r = await send<{ result: { value: T }; exceptionDetails?: unknown }>(
            "Runtime.evaluate",
            { expression, returnByValue: true },
            sessionId,
          );
          if (r.exceptionDetails) throw new Error(`evaluate failed: ${JSON.stringify(r.exceptionDetails)}`);
          return r.result.value;
        },
        async tab() {
          for (const type of ["keyDown", "keyUp"])
            await send(
              "Input.dispatchKeyEvent",
              { type, key: "Tab", code: "Tab", windowsVirtualKeyCode: 9 },
              sessionId,
            );
        },
      };
    },
    async close() {
      await send("Browser.close").catch(() => {});
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
