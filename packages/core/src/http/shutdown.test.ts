import { createServer } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { isMarketplaceError } from "../errors/index.js";
import { closeOnShutdown } from "./shutdown.js";
import { ID, dryMarketplace } from "./testbed.test-helper.js";

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});
const isClosed = (m: ReturnType<typeof dryMarketplace>) => {
  try {
    m.record({ identity: ID, dimension: "api_calls", quantity: 1 });
    return false;
  } catch (err) {
    return isMarketplaceError(err, "CLOSED");
  }
};

describe("closeOnShutdown", () => {
  it("closes the marketplace when the server closes", async () => {
    const m = dryMarketplace();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const wiring = closeOnShutdown(server, m, { signals: [] });
    cleanups.push(wiring.dispose);
    await new Promise((r) => server.close(r));
    await wiring.shutdown();
    expect(isClosed(m)).toBe(true);
  });

  it("on a signal, stops the server and closes the marketplace; dispose removes the listeners", async () => {
    const before = process.listenerCount("SIGTERM");
    const m = dryMarketplace();
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const wiring = closeOnShutdown(server, m, { signals: ["SIGTERM"], exit: false });
    expect(process.listenerCount("SIGTERM")).toBe(before + 1);
    process.emit("SIGTERM", "SIGTERM");
    expect(process.listenerCount("SIGTERM")).toBe(before);
    await wiring.shutdown();
    expect(isClosed(m)).toBe(true);
    expect(server.listening).toBe(false);

    const sigint = process.listenerCount("SIGINT");
    const other = closeOnShutdown(undefined, dryMarketplace(), { signals: ["SIGINT"] });
    expect(process.listenerCount("SIGINT")).toBe(sigint + 1);
    other.dispose();
    expect(process.listenerCount("SIGINT")).toBe(sigint);
    await other.shutdown();
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
  });
});
