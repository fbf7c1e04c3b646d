/**
 * Graceful shutdown: usage recorded in memory must reach the store (and, with a memory store, AWS)
 * before the process goes away, so SIGTERM/SIGINT and the server's own close run `marketplace.close()`.
 */
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
  /** Most time spent in `marketplace.close()` before giving up. @default 10000 */
  timeoutMs?: number;
  /**
   * After closing, raise the signal again so the process ends as it would have without us
   * (only when no other listener handles it).
   * @default true
   */
  exit?: boolean;
  /** @default silent */
  logger?: Logger;
}

/**
 * On SIGTERM/SIGINT, and when the server closes: stop accepting connections, then close the
 * marketplace (checkpoint, send what is due, close the store). Returns `dispose()` (removes the
 * listeners) and `shutdown()` (runs the same sequence by hand, e.g. from your own signal handler).
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
  const timeoutMs = options.timeoutMs ?? 10_000;
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 0)
    throw new MarketplaceError("INVALID_CONFIG", "timeoutMs must be a non-negative integer");
  const exit = options.exit !== false;
  const logger = options.logger;

  let running: Promise<void> | undefined;
  const closeMarketplace = (): Promise<void> => {
    if (running) return running;
    running = (async () => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger?.error({ timeoutMs }, "marketmeter: close() did not finish in time during shutdown");
          resolve();
        }, timeoutMs);
        timer.unref?.();
      });
      try {
        await Promise.race([marketplace.close(), timeout]);
      } catch (err) {
        logger?.error({ error: String(err) }, "marketmeter: close() failed during shutdown");
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
    dispose();
    if (server) {
      // Stop taking new connections; in-flight requests finish (and are metered) before close resolves.
      server.close(() => {});
      server.closeIdleConnections?.();
    }
    await closeMarketplace();
    if (signal && exit && process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  for (const signal of signals) {
    const handler = () => {
      logger?.info({ signal }, "marketmeter: shutting down");
      void shutdown(signal);
    };
    handlers.set(signal, handler);
    process.once(signal, handler);
  }
  server?.once("close", onServerClose);
  return { dispose, shutdown: () => shutdown() };
}
