// The conformance app built with this adapter's public API, for any supported Koa major.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import { ADMIN_TOKEN, type ConformanceApp, type ConformanceHooks } from "@marketmeter/adapter-conformance";
import type Koa from "koa";
import type { Context, Middleware } from "koa";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  type MarketplaceState,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "../src/index.js";

type KoaClass = typeof Koa;

export async function startKoaApp(KoaImpl: KoaClass, hooks: ConformanceHooks): Promise<ConformanceApp> {
  const { marketplace } = hooks;
  const getCustomer = (ctx: Context) => hooks.customer(ctx.get("x-customer") || undefined);
  const metering = (): Middleware =>
    meterUsage(marketplace, { getCustomer, dimension: "api_calls", onError: hooks.onMeterError });
  const app = new KoaImpl();
  app.silent = true;
  const { errorHandler } = hooks;
  if (errorHandler)
    app.use(async (ctx, next) => {
      try {
        await next();
      } catch (err) {
        const { status, body } = errorHandler(err);
        ctx.status = status;
        ctx.type = "text/plain";
        ctx.body = body;
      }
    });
  const router = new Router<MarketplaceState>();
  router.get("/hello", (ctx) => {
    ctx.type = "text/plain";
    ctx.body = "hello";
  });
  router.get("/status/:code", (ctx) => {
    ctx.status = Number(ctx.params.code);
    ctx.type = "text/plain";
    ctx.body = `status ${ctx.params.code}`;
  });
  router.get("/throw", () => {
    throw new Error("handler failed");
  });
  router.post(
    "/upload",
    meter("gb_stored", (ctx) => Number(ctx.get("x-units"))),
    (ctx) => {
      ctx.status = 201;
      ctx.type = "text/plain";
      ctx.body = "stored";
    },
  );
  router.get(
    "/rows",
    meter("api_calls", (ctx) => Number(ctx.response.get("x-rows"))),
    (ctx) => {
      const n = Number(ctx.query.n);
      ctx.set("x-rows", String(n));
      ctx.body = Array.from({ length: n }, (_, i) => ({ i }));
    },
  );
  router.get("/free", skipMetering(), (ctx) => {
    ctx.type = "text/plain";
    ctx.body = "free";
  });
  router.get("/twice", metering(), (ctx) => {
    ctx.type = "text/plain";
    ctx.body = "twice";
  });
  router.get("/manual", skipMetering(), async (ctx) => {
    const identity = (await hooks.customer(ctx.get("x-customer"))) as object;
    ctx.state.marketplace.record({ identity, dimension: "gb_stored", quantity: 7 } as never);
    ctx.type = "text/plain";
    ctx.body = "manual";
  });
  router.all("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup?from=aws" }));
  router.post("/marketplace/events", eventBridgeHandler(marketplace));
  router.post("/marketplace/sns", snsHandler(marketplace));
  router.get("/paid", requireSubscription(marketplace, { getCustomer }), (ctx) => {
    ctx.body = { tenantId: ctx.state.subscription?.tenantId };
  });
  router.get("/paid-open", requireSubscription(marketplace, { getCustomer, failOpen: true }), (ctx) => {
    ctx.body = { tenantId: ctx.state.subscription?.tenantId };
  });
  router.get(
    "/usage",
    usagePageHandler(marketplace, { authorize: (ctx) => ctx.get("x-admin") === ADMIN_TOKEN }),
  );
  router.get("/usage-local", usagePageHandler(marketplace, { localOnly: true }));
  router.get("/my-usage", buyerUsageHandler(marketplace, { getCustomer }));
  app.use(metering());
  app.use(router.routes());
  app.use(router.allowedMethods());
  const server: Server = app.listen(0, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", reject);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
