import type { Emulator } from "@marketmeter/emulator";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  A,
  type App,
  B,
  billed,
  C,
  credentials,
  DEMO,
  HOUR,
  hit,
  marketplaceOptions,
  startEmu,
  startMeteredApp,
} from "./bed.js";

let emu: Emulator;
beforeAll(async () => {
  emu = await startEmu();
});
afterAll(() => emu.close());

describe.each(["express", "fastify"] as const)("metering on %s", (platform) => {
  let app: App | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
    emu.reset();
    emu.clock.set(Date.parse(DEMO.now), { freeze: true });
  });

  it("bills exactly N units per customer, dimension and hour; 4xx, 5xx, skipped and anonymous requests are free", async () => {
    app = await startMeteredApp(platform, emu);
    const { base } = app;
    // Interleaved customers, so a mix-up between them would show.
    for (let i = 0; i < 4; i++) {
      await hit(base, "/hello", A);
      await hit(base, "/hello", B);
      await hit(base, "/hello", C);
    }
    await hit(base, "/hello", A, 3);
    expect(await hit(base, "/bad", A, 3)).toEqual([400, 400, 400]);
    expect(await hit(base, "/boom", B, 2)).toEqual([500, 500]);
    expect(await hit(base, "/nope", C, 2)).toEqual([404, 404]);
    expect(await hit(base, "/health", A, 5)).toEqual([200, 200, 200, 200, 200]);
    expect(await hit(base, "/hello", {}, 4)).toEqual([200, 200, 200, 200]);
    // The next hour is another grain.
    emu.clock.advance(HOUR);
    await hit(base, "/hello", A, 2);
    emu.clock.advance(HOUR + 6 * 60_000);
    await app.service.flush();
    expect(billed(emu)).toEqual({
      "L1/api_calls/10h": 7,
      "L1/api_calls/11h": 2,
      "L2/api_calls/10h": 4,
      [`${DEMO.C1}/api_calls/10h`]: 4,
    });
  });

  it("@Meter with a number, with a function of the handler's result, and at controller level; @SkipMetering wins", async () => {
    app = await startMeteredApp(platform, emu);
    const { base } = app;
    expect(await hit(base, "/five", A, 2)).toEqual([200, 200]);
    expect(await hit(base, "/upload?size=7", B, 1, "POST")).toEqual([201]);
    expect(await hit(base, "/upload?size=5", B, 1, "POST")).toEqual([201]);
    expect(await hit(base, "/upload?size=0", B, 1, "POST")).toEqual([201]);
    expect(await hit(base, "/bulk/a", B, 3)).toEqual([200, 200, 200]);
    expect(await hit(base, "/bulk/b", C, 4)).toEqual([200, 200, 200, 200]);
    expect(await hit(base, "/bulk/c", C, 2)).toEqual([200, 200]);
    emu.clock.advance(HOUR);
    await app.service.flush();
    expect(billed(emu)).toEqual({
      "L1/gb_stored/10h": 10,
      "L2/gb_stored/10h": 18,
      [`${DEMO.C1}/api_calls/10h`]: 2,
    });
  });

  it("meterAll: false meters only @Meter routes; shouldMeter replaces the status rule", async () => {
    app = await startMeteredApp(platform, emu, { meterAll: false });
    await hit(app.base, "/hello", A, 3);
    await hit(app.base, "/five", A, 1);
    await app.close();
    app = await startMeteredApp(platform, emu, { shouldMeter: (_req, res) => res.statusCode === 400 });
    await hit(app.base, "/bad", B, 2);
    await hit(app.base, "/hello", B, 3);
    emu.clock.advance(HOUR);
    await app.service.flush();
    expect(billed(emu)).toEqual({
      [`L1/gb_stored/10h`]: 5,
      [`L2/api_calls/10h`]: 2,
    });
  });

  it("an emulator that throttles, fails or is gone never changes a response; usage is billed once it is back", async () => {
    app = await startMeteredApp(platform, emu);
    const reference = await fetch(`${app.base}/hello`, { headers: A });
    const refBody = await reference.text();
    emu.setFaults({ BatchMeterUsage: { throttle: { probability: 1 } } });
    emu.clock.advance(HOUR);
    await app.service.flush();
    const during = await fetch(`${app.base}/hello`, { headers: A });
    expect([during.status, await during.text()]).toEqual([reference.status, refBody]);
    emu.setFaults({ BatchMeterUsage: { internalError: { probability: 1 } } });
    emu.clock.advance(60_000);
    await app.service.flush();
    expect(await hit(app.base, "/hello", A, 3)).toEqual([200, 200, 200]);
    expect(emu.ledger()).toEqual([]);
    emu.setFaults({});
    emu.clock.advance(HOUR);
    await app.service.flush();
    expect(billed(emu)).toEqual({
      [`L1/api_calls/10h`]: 1,
      [`L1/api_calls/11h`]: 4,
    });
  });

  it("an AWS endpoint nobody listens on never changes a response either", async () => {
    const dead = await startEmu();
    const endpoint = dead.endpoint;
    await dead.close();
    app = await startMeteredApp(platform, emu, {
      marketplace: marketplaceOptions(emu, {
        aws: { region: "us-east-1", endpoint, credentials, maxAttempts: 1 },
      }),
    });
    expect(await hit(app.base, "/hello", A, 3)).toEqual([200, 200, 200]);
    emu.clock.advance(HOUR);
    await app.service.flush();
    expect(await hit(app.base, "/five", A, 1)).toEqual([200]);
    expect(
      (
        await app.service.report({
          identity: { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA },
        })
      )[0],
    ).toMatchObject({
      quantity: 3,
      state: "retrying",
    });
  });

  it("getCustomer and @Meter functions that throw or return nonsense never reach the response", async () => {
    const errors: unknown[] = [];
    app = await startMeteredApp(platform, emu, {
      getCustomer: (req) => {
        if (req.headers["x-throw"]) throw new Error("lookup failed");
        if (req.headers["x-async"]) return Promise.reject(new Error("async lookup failed"));
        if (req.headers["x-weird"]) return { customerAWSAccountId: "not-an-account" } as never;
        return undefined;
      },
      onError: (err) => errors.push(err),
    });
    expect(await hit(app.base, "/hello", { "x-throw": "1" })).toEqual([200]);
    expect(await hit(app.base, "/hello", { "x-async": "1" })).toEqual([200]);
    expect(await hit(app.base, "/hello", { "x-weird": "1" })).toEqual([200]);
    expect(await hit(app.base, "/upload?size=-3", { "x-weird": "1" }, 1, "POST")).toEqual([201]);
    // Reported after the responses, so wait for them rather than for a fixed time.
    await vi.waitFor(() => expect(errors).toHaveLength(4), { timeout: 5000, interval: 5 });
    expect(errors.map((e) => (e as { code?: string }).code ?? (e as Error).message)).toEqual([
      "lookup failed",
      "async lookup failed",
      "INVALID_IDENTITY",
      "INVALID_QUANTITY",
    ]);
  });

  it("closes the marketplace on application shutdown: the open hour of a memory store is sent", async () => {
    app = await startMeteredApp(platform, emu);
    await hit(app.base, "/hello", A, 3);
    await app.close();
    app = undefined;
    expect(billed(emu)).toEqual({ [`L1/api_calls/10h`]: 3 });
  });
});
