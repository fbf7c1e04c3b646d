process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { TEST_IDENTITY, testResources } from "@marketmeter/adapter-conformance";
import express from "express";
import { afterEach, describe, expect, it } from "vitest";
import { getMarketplace, meter, meterUsage, skipMetering } from "../src/index.js";

const identity = TEST_IDENTITY;
const getCustomer = () => identity;

const { marketplace: dryMarketplace, serve, units, closeAll } = testResources();
afterEach(closeAll);

describe("@marketmeter/express: several marketmeter middlewares on one request", () => {
  it("meterUsage mounted twice with different options: the one mounted first meters, once", async () => {
    const m = dryMarketplace();
    const app = express();
    app.use(meterUsage(m, { getCustomer, dimension: "api_calls" }));
    app.get("/", meterUsage(m, { getCustomer, dimension: "tokens", quantity: 5 }), (_req, res) => {
      res.send("ok");
    });
    const url = await serve(app);
    for (let i = 0; i < 3; i++) expect((await fetch(url)).status).toBe(200);
    expect(await units(m)).toEqual({ api_calls: 3 });
  });

  it("route overrides and skips apply whether they run before or after meterUsage", async () => {
    const m = dryMarketplace();
    const app = express();
    app.use("/early", meter("tokens", 4));
    app.use("/early-skip", skipMetering());
    app.use(meterUsage(m, { getCustomer, dimension: "api_calls" }));
    app.get("/early", (_req, res) => res.send("ok"));
    app.get("/early-skip", (_req, res) => res.send("ok"));
    app.get("/late", meter("tokens", 2), (_req, res) => res.send("ok"));
    app.get("/plain", (_req, res) => res.send("ok"));
    const url = await serve(app);
    for (const path of ["/early", "/early-skip", "/late", "/plain"])
      expect((await fetch(url + path)).status).toBe(200);
    expect(await units(m)).toEqual({ tokens: 6, api_calls: 1 });
  });

  it("getMarketplace(req) returns the marketplace of the first meterUsage, and only that one meters", async () => {
    const first = dryMarketplace();
    const second = dryMarketplace();
    const app = express();
    app.use(meterUsage(first, { getCustomer, dimension: "api_calls" }));
    app.use(meterUsage(second, { getCustomer, dimension: "api_calls" }));
    let seen: unknown;
    app.get("/", (req, res) => {
      seen = getMarketplace(req);
      res.send("ok");
    });
    const url = await serve(app);
    expect((await fetch(url)).status).toBe(200);
    expect(seen).toBe(first);
    expect(await units(first)).toEqual({ api_calls: 1 });
    expect(await units(second)).toEqual({});
  });
});
