// Clocks: two instances on one PostgreSQL schema whose clocks differ by a minute.
import { createMarketplace, type UsageStore } from "@marketmeter/core";
import { DEMO, demoConfig, startEmulator } from "@marketmeter/emulator";
import { describe, expect, it } from "vitest";
import { postgresStore } from "../src/index.js";
import { dropSchema, freshSchema, hasDatabase, url } from "./helpers.js";

const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };

/**
 * Two instances whose clocks differ by a minute record across an hour boundary on one store. The one
 * ahead closes the hour first; usage the other checkpoints for it afterwards moves to the open hour.
 * The emulator must hold exactly one record per grain, summing to what was recorded.
 */
async function skewedInstances(store: () => UsageStore) {
  const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 16 });
  let t = Date.parse("2026-07-15T10:58:30Z");
  const set = (v: number) => {
    t = v;
    emu.clock.set(v, { freeze: true });
  };
  set(t);
  const make = (skewMs: number) =>
    createMarketplace({
      products: [{ productCode: DEMO.P_CA }],
      dimensions: ["api_calls"] as const,
      aws: { region: "us-east-1", endpoint: emu.endpoint, credentials },
      store: store(),
      clock: () => t + skewMs,
      autoStart: false,
      retry: { baseDelayMs: 10, maxDelayMs: 1000 },
    });
  const a = make(0);
  const b = make(60_000);
  let recorded = 0;
  const rec = (m: typeof a, quantity: number) => {
    m.record({ identity: CA1, dimension: "api_calls", quantity });
    recorded += quantity;
  };
  try {
    rec(a, 1);
    rec(b, 2);
    await Promise.all([a.checkpoint(), b.checkpoint()]);
    // b is past 11:00 already, a is not: the same instant lands in two different hours.
    set(Date.parse("2026-07-15T10:59:30Z"));
    rec(a, 3);
    rec(b, 4);
    await b.checkpoint();
    // b's grace period ends a minute before a's: b closes and sends 10:00 while a still holds usage for it.
    set(Date.parse("2026-07-15T11:04:40Z"));
    await b.flush();
    await a.flush();
    set(Date.parse("2026-07-15T12:06:00Z"));
    await a.flush();
    await b.flush();
    const ledger = emu.ledger().map((r) => [r.hour, r.quantity]);
    return { ledger, recorded, duplicates: emu.duplicates(), carried: a.stats().carriedForward };
  } finally {
    await a.close();
    await b.close();
    await emu.close();
  }
}

describe.runIf(hasDatabase)("clock skew between instances", () => {
  it("clocks a minute apart across an hour boundary: one record per grain, the total as recorded", async () => {
    const schema = freshSchema();
    try {
      const r = await skewedInstances(() =>
        postgresStore({ connectionString: url, schema, maxConnections: 2 }),
      );
      expect(r.ledger).toEqual([
        ["2026-07-15T10:00:00.000Z", 3],
        ["2026-07-15T11:00:00.000Z", 7],
      ]);
      expect(r.recorded).toBe(10);
      expect(r.duplicates).toEqual([]);
      expect(r.carried).toBe(1);
    } finally {
      await dropSchema(schema);
    }
  });
});
