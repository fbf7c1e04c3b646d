process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import Koa from "koa";
import { afterEach, describe, expect, it } from "vitest";
import {
  type Marketplace,
  type MarketmeterState,
  createMarketplace,
  meter,
  meterUsage,
  skipMetering,
} from "../src/index.js";

const P = "pca1234567890abcdefghijkl";
const identity = Object.freeze({
  customerAWSAccountId: "123456789012",
  licenseArn: "arn:aws:license-manager::294406891311:license:l-1123456789abcdef0123456789abcdef",
});
const getCustomer = () => identity;

const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0)) await close();
});

function dryMarketplace(): Marketplace {
  const m = createMarketplace({
    products: [{ productCode: P }],
    dimensions: ["api_calls", "tokens"],
    dryRun: true,
    autoStart: false,
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
  });
  open.push(() => m.close());
  return m;
}

async function serve(app: Koa): Promise<string> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((r) => server.once("listening", r));
  open.push(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Units per dimension, once every response has finished. */
async function units(m: Marketplace): Promise<Record<string, number>> {
  await new Promise((r) => setTimeout(r, 20));
  const out: Record<string, number> = {};
  for (const g of await m.report()) out[g.dimension] = (out[g.dimension] ?? 0) + g.quantity;
  return out;
}

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
      seen = (ctx.state as MarketmeterState).marketplace;
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
    const router = new Router<MarketmeterState>();
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
