process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import type { AddressInfo } from "node:net";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  closeOnShutdown,
  createMarketplace,
  eventBridgeHandler,
  getMarketplace,
  isMarketplaceError,
  type Marketplace,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
} from "../src/index.js";

const SECRET = "express-adapter-secret-0123";
let emu: Emulator;
let marketplace: Marketplace;
beforeAll(async () => {
  emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }) });
  marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: ["api_calls"],
    aws: {
      region: "us-east-1",
      endpoint: emu.endpoint,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    clock: () => emu.clock.now().getTime(),
    autoStart: false,
    buyers: { eventBridge: { secret: SECRET } },
  });
});
afterAll(async () => {
  await marketplace.close();
  await emu.close();
});

async function listen(app: express.Express) {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe("@marketmeter/express in apps that already parse bodies", () => {
  it("registration and EventBridge routes work behind express.urlencoded() and express.json()", async () => {
    const app = express();
    app.use(express.urlencoded({ extended: false }), express.json());
    app.post("/register", registrationHandler(marketplace, { signUpUrl: "https://app.example/signup" }));
    app.post("/events", eventBridgeHandler(marketplace));
    const { server, url } = await listen(app);
    const wiring = closeOnShutdown(server, { close: async () => {} }, { signals: [] });
    try {
      const token = emu.mintToken({ licenseArn: DEMO.L2 });
      const res = await fetch(`${url}/register`, {
        method: "POST",
        redirect: "manual",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: `x-amzn-marketplace-token=${encodeURIComponent(token)}`,
      });
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toMatch(/^https:\/\/app\.example\/signup\?registration=reg_/);
      const event = await fetch(`${url}/events`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-marketmeter-webhook-secret": SECRET },
        body: JSON.stringify({
          version: "0",
          id: "ev-express-1",
          "detail-type": "License Updated - Manufacturer",
          source: "aws.agreement-marketplace",
          account: DEMO.sellerAccountId,
          time: DEMO.now.replace(/\.\d{3}Z$/, "Z"),
          region: "us-east-1",
          resources: [],
          detail: {
            product: { code: DEMO.P_CA },
            license: { arn: DEMO.L2 },
            acceptor: { accountId: DEMO.A1 },
            agreement: { id: "agmt-2" },
          },
        }),
      });
      expect(event.status).toBe(200);
      expect(await event.json()).toMatchObject({ outcome: "applied", action: "license-updated" });
      expect(marketplace.access({ customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2 })).toMatchObject({
        allowed: true,
      });
    } finally {
      wiring.dispose();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it("getMarketplace() explains what is missing when no marketmeter middleware ran", async () => {
    const app = express();
    let caught: unknown;
    app.get("/", (req, res) => {
      try {
        getMarketplace(req);
      } catch (err) {
        caught = err;
      }
      res.end("x");
    });
    const { server, url } = await listen(app);
    await fetch(url);
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    expect(isMarketplaceError(caught, "INVALID_CONFIG")).toBe(true);
  });

  it("configuration mistakes throw INVALID_CONFIG when the middleware is created", () => {
    const bad = [
      () => meterUsage(marketplace, { dimension: "api_calls" } as never),
      () => meterUsage({} as never, { getCustomer: () => undefined, dimension: "api_calls" }),
      () => meter("api_calls", -2),
      () => registrationHandler(marketplace, { signUpUrl: "signup" }),
      () => requireSubscription(marketplace, { getCustomer: () => undefined, failOpen: 1 as never }),
      () => eventBridgeHandler({} as never),
    ];
    for (const f of bad) expect(f).toThrow(expect.objectContaining({ code: "INVALID_CONFIG" }));
  });
});
