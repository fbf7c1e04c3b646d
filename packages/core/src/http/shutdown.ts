/**
 * Graceful shutdown: usage recorded in memory must reach the store (and, with a memory store, AWS)
 * before the process goes away, so SIGTERM/SIGINT and the server's own close run `marketplace.close()`.
 */
import { constants } from "node:os";
import { MarketplaceError } from "../errors/index.js";
import type { Logger } from "../runtime/index.js";
import type { ClosableTarget } from "./types.js";

/** The part of a Node `http.Server` (or any server) that shutdown needs. */
export interface ClosableServer {
  close(callback?: (err?: Error) => void): unknown;
  once(event: "close", listener: () => void): unknown;
  off?(event: "close", listener: () => void): unknown;
  closeIdleConnections?(): void;
}

/** Options of {@link closeOnShutdown}. */
export interface CloseOnShutdownOptions {
  /** Signals that start the shutdown. @default ["SIGTERM", "SIGINT"] */
  signals?: readonly NodeJS.Signals[];
  /**
   * Most time spent in `marketplace.close()` before giving up; fits within Kubernetes' default
   * 30 s termination grace period.
   * @default 25000
   */
  timeoutMs?: number;
  /**
   * What happens after a signal once closing has finished:
   * - `true` or `"signal"`: raise the signal again, so the process ends as it would have without us
   *   (only when no other listener handles it);
   * - `"code"`: `process.exit(0)`, or `1` when `close()` failed or timed out (what `pnpm start` and
   *   `npm start` expect from a clean stop);
   * - `false`: nothing; the process ends when nothing else keeps it alive.
   * @default true
   */
  exit?: boolean | "signal" | "code";
  /**
   * Receives the shutdown lines. The repeated-signal lines ("shutdown in progress", "forced exit") go to
   * stderr when no logger is given, so a Ctrl-C that does not stop the process at once is never silent.
   * @default silent
   */
  logger?: Logger;
}

/**
 * On SIGTERM/SIGINT, and when the server closes: stop accepting connections, then close the
 * marketplace (checkpoint, send what is due, close the store). A second signal during the shutdown is
 * ignored (a line says so); a third one forces the process to exit at once with code 128 + signal
 * number. Returns `dispose()` (removes the listeners) and `shutdown()` (runs the same sequence by
 * hand, e.g. from your own signal handler).
 *
 * @example
 * const server = app.listen(3000)
 * closeOnShutdown(server, marketplace)
 */
export function closeOnShutdown(
  server: ClosableServer | undefined,
  marketplace: ClosableTarget,
  options: CloseOnShutdownOptions = {},
): { dispose(): void; shutdown(): Promise<void> } {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.close !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "closeOnShutdown needs the marketplace instance");
  if (
    server !== undefined &&
    (typeof server !== "object" || server === null || typeof server.close !== "function")
  )
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "closeOnShutdown needs a server with close() (or undefined)",
    );
  const signals = options.signals ?? (["SIGTERM", "SIGINT"] as const);
  if (!Array.isArray(signals) || signals.some((s) => typeof s !== "string" || !s.startsWith("SIG")))
    throw new MarketplaceError("INVALID_CONFIG", 'signals must be a list of signal names like ["SIGTERM"]');
  const timeoutMs = options.timeoutMs ?? 25_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0)
    throw new MarketplaceError("INVALID_CONFIG", "timeoutMs must be a non-negative integer");
  const exitOption = options.exit ?? true;
  if (![true, false, "signal", "code"].includes(exitOption as never))
    throw new MarketplaceError("INVALID_CONFIG", 'exit must be true, false, "signal" or "code"');
  const exit = exitOption === true ? "signal" : exitOption;
  const logger = options.logger;
  // Without a logger, the lines about repeated signals still reach the terminal that sent them.
  const say = (level: "warn" | "error", obj: object, msg: string) =>
    logger ? logger[level](obj, msg) : process.stderr.write(`${msg}\n`);

  let running: Promise<boolean> | undefined;
  /** Resolves `true` when close() finished, `false` when it failed or timed out. */
  const closeMarketplace = (): Promise<boolean> => {
    if (running) return running;
    running = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => {
          logger?.error({ timeoutMs }, "marketmeter: close() did not finish in time during shutdown");
          resolve(false);
        }, timeoutMs);
        timer.unref?.();
      });
      try {
        return await Promise.race([marketplace.close().then(() => true), timeout]);
      } catch (err) {
        logger?.error({ error: String(err) }, "marketmeter: close() failed during shutdown");
        return false;
      } finally {
        clearTimeout(timer);
      }
    })();
    return running;
  };

  const onServerClose = () => {
    void closeMarketplace();
  };
  const handlers = new Map<NodeJS.Signals, () => void>();
  const dispose = () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    handlers.clear();
    server?.off?.("close", onServerClose);
  };
  const shutdown = async (signal?: NodeJS.Signals): Promise<void> => {
    server?.off?.("close", onServerClose);
    if (server) {
      // Stop taking new connections; in-flight requests finish (and are metered) before close resolves.
      server.close(() => {});
      server.closeIdleConnections?.();
    }
    const ok = await closeMarketplace();
    // The signal listeners stay until here: a repeated Ctrl-C must not kill the process mid-send.
    dispose();
    if (!signal) return;
    if (exit === "code") process.exit(ok ? 0 : 1);
    if (exit === "signal" && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  let received = 0;
  for (const signal of signals as readonly NodeJS.Signals[]) {
    const handler = () => {
      received += 1;
      if (received === 1) {
        logger?.info({ signal }, `marketmeter: ${signal} received, shutting down (sending what is due)`);
        void shutdown(signal);
      } else if (received === 2) {
        // `pnpm start` and Ctrl-C in a terminal each deliver the signal, so two arrive for one keypress.
        say(
          "warn",
          { signal },
          `marketmeter: ${signal} received again; shutdown is in progress (sending what is due). Send it once more to force exit.`,
        );
      } else {
        say(
          "error",
          { signal },
          `marketmeter: ${signal} received a third time; forced exit before shutdown finished`,
        );
        process.exit(128 + (constants.signals[signal] ?? 0));
      }
    };
    handlers.set(signal, handler);
    process.on(signal, handler);
  }
  server?.once("close", onServerClose);
  return {
    dispose,
    shutdown: () => {
      // A signal during a shutdown started by hand is a repeat, not a new start.
      received = Math.max(received, 1);
      return shutdown();
    },
  };
}
