// The app under test: a small metered Express API in the starters' shape. A request's tenant comes from
// the `x-tenant` header; the tenant is an AWS buyer registered through the fulfillment URL and linked
// at sign-up. A 200 from /api/* means the request was allowed and is metered.
import {
  eventBridgeHandler,
  type Marketplace,
  meter,
  meterUsage,
  registrationHandler,
  requireSubscription,
  skipMetering,
} from "@marketmeter/express";
import express, { type Express } from "express";

export const DIMENSIONS = ["api_calls", "report_rows"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The tenant a request belongs to: what the app passes to `createMarketplace({ getCustomer })`. */
export const tenantOf = (req: express.Request): string | undefined => req.get("x-tenant");

export function chaosApp(marketplace: Marketplace<Dimension>): Express {
  const app = express();
  app.disable("x-powered-by");
  // Every finished tenant request with status < 400 is one api_calls unless its route says otherwise.
  app.use(meterUsage(marketplace, { dimension: "api_calls" }));
  app.get("/health", skipMetering(), (_req, res) => {
    res.json({ ok: true });
  });
  app.post("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup" }));
  app.post("/marketplace/events", eventBridgeHandler(marketplace));
  app.post("/signup", skipMetering(), express.json(), async (req, res) => {
    const { registration, tenant } = (req.body ?? {}) as { registration?: unknown; tenant?: unknown };
    if (typeof registration !== "string" || typeof tenant !== "string")
      return void res.status(400).json({ error: "registration and tenant are required" });
    const record = await marketplace.link(registration, tenant);
    res.json({ tenant, customerId: record.id });
  });
  app.get("/api/calls", requireSubscription(marketplace), (_req, res) => {
    res.json({ ok: true });
  });
  // report_rows: the number of rows asked for (1-100), one record per request.
  app.get(
    "/api/rows",
    requireSubscription(marketplace),
    meter("report_rows", (req) => Number(req.query.n)),
    (req, res) => {
      const n = Number(req.query.n);
      if (!Number.isInteger(n) || n < 1 || n > 100)
        return void res.status(400).json({ error: "n must be an integer from 1 to 100" });
      res.json({ rows: n });
    },
  );
  return app;
}
