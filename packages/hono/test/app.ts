// The conformance app built with this adapter's public API, for any supported Hono version.
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { ADMIN_TOKEN, type ConformanceApp, type ConformanceHooks } from "@marketmeter/adapter-conformance";
import type { Context, Hono } from "hono";
import type { HTTPException } from "hono/http-exception";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  type MarketplaceEnv,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "../src/index.js";

type HonoClass = typeof Hono;

/**
 * `secondCopy`: the app's Hono is another copy than the adapter's (the hono 4.0 run). Hono before 4.5
 * recognises an `HTTPException` by `instanceof`, which fails across copies, so that run stands in
 * today's default handler (`getResponse()`), which one installed copy of hono gets by itself.
 */
export async function startHonoApp(
  HonoImpl: HonoClass,
  hooks: ConformanceHooks,
  secondCopy = false,
): Promise<ConformanceApp> {
  const { marketplace } = hooks;
  const getCustomer = (c: Context) => hooks.customer(c.req.header("x-customer"));
  const metering = () =>
    meterUsage(marketplace, { getCustomer, dimension: "api_calls", onError: hooks.onMeterError });
  const app = new HonoImpl<MarketplaceEnv>();
  app.use(metering());
  app.get("/hello", (c) => c.text("hello"));
  app.get("/status/:code", (c) =>
    c.text(`status ${c.req.param("code")}`, Number(c.req.param("code")) as 200),
  );
  app.get("/throw", () => {
    throw new Error("handler failed");
  });
  app.post(
    "/upload",
    meter("gb_stored", (c) => Number(c.req.header("x-units"))),
    (c) => c.text("stored", 201),
  );
  app.get(
    "/rows",
    meter("api_calls", (c) => Number(c.res.headers.get("x-rows"))),
    (c) => {
      const n = Number(c.req.query("n"));
      c.header("x-rows", String(n));
      return c.json(Array.from({ length: n }, (_, i) => ({ i })));
    },
  );
  app.get("/free", skipMetering(), (c) => c.text("free"));
  app.get("/twice", metering(), (c) => c.text("twice"));
  app.get("/manual", skipMetering(), async (c) => {
    const identity = (await hooks.customer(c.req.header("x-customer"))) as object;
    c.var.marketplace.record({ identity, dimension: "gb_stored", quantity: 7 } as never);
    return c.text("manual");
  });
  app.all("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup?from=aws" }));
  app.post("/marketplace/events", eventBridgeHandler(marketplace));
  app.post("/marketplace/sns", snsHandler(marketplace));
  app.get("/paid", requireSubscription(marketplace, { getCustomer }), (c) =>
    c.json({ tenantId: c.var.subscription?.tenantId }),
  );
  app.get("/paid-open", requireSubscription(marketplace, { getCustomer, failOpen: true }), (c) =>
    c.json({ tenantId: c.var.subscription?.tenantId }),
  );
  app.get(
    "/usage",
    usagePageHandler(marketplace, { authorize: (c) => c.req.header("x-admin") === ADMIN_TOKEN }),
  );
  app.get("/usage-local", usagePageHandler(marketplace, { localOnly: true }));
  app.get("/my-usage", buyerUsageHandler(marketplace, { getCustomer }));
  const { errorHandler } = hooks;
  if (errorHandler)
    app.onError((err, c) => {
      const { status, body } = errorHandler(err);
      return c.text(body, status as 500);
    });
  else if (secondCopy)
    app.onError((err, c) =>
      "getResponse" in err ? (err as HTTPException).getResponse() : c.text("Internal Server Error", 500),
    );
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
