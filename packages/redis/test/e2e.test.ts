// End to end: two marketplace instances share one Redis key prefix and send to the emulator over HTTP with
// the real AWS SDK; every grain reaches the ledger exactly once.
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { createMarketplace, type Marketplace } from "@marketmeter/core";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisStore } from "../src/index.js";
import { dropPrefix, freshPrefix, hasRedis, url } from "./helpers.js";

const HOUR = 3_600_000;
const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };
const CA2 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2, productCode: DEMO.P_CA };
const LEG = { customerIdentifier: DEMO.C1, productCode: DEMO.P_L };
type Dim = "api_calls" | "gb_stored";

describe.runIf(hasRedis)("two instances on one Redis (emulator)", () => {
  let emu: Emulator;
  const keyPrefix = freshPrefix("e2e");
  const clients: Redis[] = [];
  beforeAll(async () => {
    emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 16 });
  });
  afterAll(async () => {
    await emu?.close();
    await Promise.all(clients.map((c) => c.quit()));
    await dropPrefix(keyPrefix);
  });

  it("records usage on both, and the ledger holds exactly one record per grain with the sum", async () => {
    let now = Date.parse(DEMO.now);
    emu.clock.set(now, { freeze: true });
    const client = new MarketplaceMeteringClient({
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials,
      maxAttempts: 1,
    });
    const sent: string[] = [];
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as {
          UsageRecords: Array<{
            LicenseArn?: string;
            CustomerIdentifier?: string;
            Dimension: string;
            Timestamp: Date;
          }>;
        };
        for (const r of input.UsageRecords)
          sent.push(`${r.LicenseArn ?? r.CustomerIdentifier}|${r.Dimension}|${r.Timestamp.toISOString()}`);
        return next(args);
      },
      { step: "initialize", name: "recordSent" },
    );
    const make = (instanceId: string): Marketplace<Dim> => {
      // Each instance has its own client, as separate processes would.
      const redis = new Redis(url);
      redis.on("error", () => {});
      clients.push(redis);
      return createMarketplace({
        products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
        dimensions: ["api_calls", "gb_stored"],
        store: redisStore({ client: redis, keyPrefix }),
        aws: { client },
        clock: () => now,
        autoStart: false,
        instanceId,
        retry: { baseDelayMs: 10, maxDelayMs: 1000 },
      });
    };
    const a = make("a");
    const b = make("b");
    const expected = new Map<string, number>();
    for (let h = 0; h < 4; h++) {
      for (const [i, m] of [a, b].entries())
        for (const identity of [CA1, CA2, LEG])
          for (const dimension of ["api_calls", "gb_stored"] as const) {
            if (identity === LEG && dimension === "gb_stored") continue;
            const quantity = 10 + i + h;
            m.record({ identity, dimension, quantity });
            const k = `${"licenseArn" in identity ? identity.licenseArn : identity.customerIdentifier}|${dimension}|${h}`;
            expected.set(k, (expected.get(k) ?? 0) + quantity);
          }
      await Promise.all([a.checkpoint(), b.checkpoint()]);
      now += HOUR;
      emu.clock.set(now, { freeze: true });
      // Both instances flush at once: each closed grain must be claimed and sent by one of them only.
      await Promise.all([a.flush(), b.flush(), a.flush(), b.flush()]);
    }
    await Promise.all([a.close(), b.close()]);
    expect(emu.duplicates()).toEqual([]);
    expect(new Set(sent).size).toBe(sent.length);
    const ledger = emu.ledger();
    expect(ledger).toHaveLength(4 * 5);
    const first = Math.floor(Date.parse(DEMO.now) / HOUR) * HOUR;
    const got = new Map<string, number>();
    for (const r of ledger) {
      const h = (Date.parse(r.hour) - first) / HOUR;
      got.set(`${r.licenseArn ?? r.customerIdentifier}|${r.dimension}|${h}`, r.quantity);
    }
    expect(got).toEqual(expected);
  });
});
