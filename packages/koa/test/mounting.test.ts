process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import Router from "@koa/router";
import { TEST_IDENTITY, testResources } from "@marketmeter/adapter-conformance";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import { type MarketplaceState, meter, meterUsage, skipMetering } from "../src/index.js";

const identity = TEST_IDENTITY;
const getCustomer = () => identity;

const { marketplace: dryMarketplace, serve, units, closeAll } = testResources();
afterEach(closeAll);

const ok = (ctx: Koa.Context) => {
  ctx.body = "ok";
};

describe("@marketmeter/koa: several marketmeter middlewares on one request", () => {
  it("meterUsage mounted twice with different options: the one mounted first meters, once", async () => {
    const first = dryMarketplace();
    const second = dryMarketplace();
    const app = new Koa();
    app.use(meterUsage(first, { getCustomer, dimension: "api_calls" }));
    app.use(meterUsage(second, { getCustomer, dimension: "tokens", quantity: 5 }));
    let seen: unknown;
    app.use((ctx) => {
      seen = (ctx.state as MarketplaceState).marketplace;
      ok(ctx);
    });
    const url = await serve(app);
    for (let i = 0; i < 3; i++) expect((await fetch(url)).status).toBe(200);
    expect(seen).toBe(first);
    expect(await units(first)).toEqual({ api_calls: 3 });
    expect(await units(second)).toEqual({});
  });

  it("route overrides and skips apply whether they run before or after meterUsage", async () => {
    const m = dryMarketplace();
    const app = new Koa();
    // Overrides that run before meterUsage (as an app-level middleware would).
    const tokens4 = meter("tokens", 4);
    const skip = skipMetering();
    app.use((ctx, next) =>
      ctx.path === "/early" ? tokens4(ctx, next) : ctx.path === "/early-skip" ? skip(ctx, next) : next(),
    );
    app.use(meterUsage(m, { getCustomer, dimension: "api_calls" }));
    const router = new Router<MarketplaceState>();
    router.get("/early", ok);
    router.get("/early-skip", ok);
    router.get("/late", meter("tokens", 2), ok);
    router.get("/plain", ok);
    app.use(router.routes());
    const url = await serve(app);
    for (const path of ["/early", "/early-skip", "/late", "/plain"])
      expect((await fetch(url + path)).status).toBe(200);
    expect(await units(m)).toEqual({ tokens: 6, api_calls: 1 });
  });
});
