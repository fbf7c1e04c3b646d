import { rmSync } from "node:fs";
import { createMarketplace } from "@marketmeter/core";
import { describe, expect, it } from "vitest";
import { sqliteStore } from "../src/index.js";
import { CA1, credentials, DEMO, HOUR, hangingServer, tempDb } from "./helpers.js";

describe("close() while AWS hangs", () => {
  it("saves the current hour first and resolves within closeTimeoutMs; the call's grain stays uncertain", async () => {
    const hang = await hangingServer();
    const { dir, path } = tempDb();
    let now = Date.parse("2026-07-15T10:20:00Z");
    try {
      const m = createMarketplace({
        products: [{ productCode: DEMO.P_CA }],
        dimensions: ["api_calls"],
        store: sqliteStore({ path }),
        // The call's own deadline (65 s) is far beyond close()'s budget: only the budget can end it.
        aws: { region: "us-east-1", endpoint: hang.endpoint, credentials, requestTimeoutMs: 60_000 },
        leaseMs: 120_000,
        closeTimeoutMs: 500,
        clock: () => now,
        autoStart: false,
      });
      m.record({ identity: CA1, dimension: "api_calls", quantity: 3, timestamp: now - HOUR });
      const flushing = m.flush();
      await hang.request(1);
      now += 60_000;
      m.record({ identity: CA1, dimension: "api_calls", quantity: 5 });
      await m.close();
      await flushing;
      // The server never answered: close() ended on its own budget, and started no second call.
      expect(hang.received).toHaveLength(1);
      const again = sqliteStore({ path });
      const grains = await again.list();
      expect(grains.map((g) => [g.hour, g.quantity, g.state])).toEqual([
        [Date.parse("2026-07-15T09:00:00Z"), 3, "retrying"],
        [Date.parse("2026-07-15T10:00:00Z"), 5, "pending"],
      ]);
      expect(grains[0]?.uncertain).toBe(true);
      await again.close();
    } finally {
      await hang.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
