// The conformance app built with this adapter's public API, for any supported Express major.
import type { AddressInfo } from "node:net";
import { ADMIN_TOKEN, type ConformanceApp, type ConformanceHooks } from "@marketmeter/adapter-conformance";
import type { Express, Request, RequestHandler } from "express";
import {
  buyerUsageHandler,
  eventBridgeHandler,
  getMarketplace,
  getSubscription,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
  snsHandler,
  usagePageHandler,
} from "../src/index.js";

type ExpressFactory = () => Express;

export async function startExpressApp(
  express: ExpressFactory,
  hooks: ConformanceHooks,
): Promise<ConformanceApp> {
  const { marketplace } = hooks;
  const getCustomer = (req: Request) => hooks.customer(req.get("x-customer"));
  const metering = (): RequestHandler =>
    meterUsage(marketplace, { getCustomer, dimension: "api_calls", onError: hooks.onMeterError });
  const app = express();
  app.use(metering());
  app.get("/hello", (_req, res) => {
    res.type("text/plain").send("hello");
  });
  app.get("/status/:code", (req, res) => {
    res.status(Number(req.params.code)).type("text/plain").send(`status ${req.params.code}`);
  });
  app.get("/throw", () => {
    throw new Error("handler failed");
  });
  app.post(
    "/upload",
    meter("gb_stored", (req) => Number(req.get("x-units"))),
    (_req, res) => {
      res.status(201).type("text/plain").send("stored");
    },
  );
  app.get(
    "/rows",
    meter("api_calls", (_req, res) => Number(res.getHeader("x-rows"))),
    (req, res) => {
      const n = Number(req.query.n);
      res.set("x-rows", String(n)).json(Array.from({ length: n }, (_, i) => ({ i })));
    },
  );
  app.get("/free", skipMetering(), (_req, res) => {
    res.type("text/plain").send("free");
  });
  app.get("/twice", metering(), (_req, res) => {
    res.type("text/plain").send("twice");
  });
  app.get("/manual", skipMetering(), async (req, res) => {
    const identity = (await hooks.customer(req.get("x-customer"))) as object;
    getMarketplace(req).record({ identity, dimension: "gb_stored", quantity: 7 } as never);
    res.type("text/plain").send("manual");
  });
  app.all("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup?from=aws" }));
  app.post("/marketplace/events", eventBridgeHandler(marketplace));
  app.post("/marketplace/sns", snsHandler(marketplace));
  app.get("/paid", requireSubscription(marketplace, { getCustomer }), (req, res) => {
    res.json({ tenantId: getSubscription(req)?.tenantId });
  });
  app.get("/paid-open", requireSubscription(marketplace, { getCustomer, failOpen: true }), (req, res) => {
    res.json({ tenantId: getSubscription(req)?.tenantId });
  });
  app.get(
    "/usage",
    usagePageHandler(marketplace, { authorize: (req) => req.get("x-admin") === ADMIN_TOKEN }),
  );
  app.get("/usage-local", usagePageHandler(marketplace, { localOnly: true }));
  app.get("/my-usage", buyerUsageHandler(marketplace, { getCustomer }));
  const { errorHandler } = hooks;
  if (errorHandler)
    app.use(((err, _req, res, _next) => {
      const { status, body } = errorHandler(err);
      res.status(status).type("text/plain").send(body);
    }) as import("express").ErrorRequestHandler);
  const server = app.listen(0, "127.0.0.1");
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
