// What the Hono adapter's types promise (vitest typecheck): c.var.marketplace and c.var.subscription are
// typed with MarketplaceEnv, and the middlewares carry that env.
import type { AccessAllowed } from "@marketmeter/core";
import { Hono } from "hono";
import { describe, expectTypeOf, it } from "vitest";
import {
  createMarketplace,
  type Marketplace,
  type MarketplaceEnv,
  meterUsage,
  requireSubscription,
} from "../src/index.js";

const marketplace = createMarketplace({
  products: [{ productCode: "pca1234567890abcdefghijkl" }],
  dimensions: ["api_calls"],
  dryRun: true,
  getCustomer: (c) => c.req.header("x-tenant"),
});

describe("hono adapter types", () => {
  it("types c.var with MarketplaceEnv", () => {
    new Hono<MarketplaceEnv<typeof marketplace>>().get("/", (c) => {
      expectTypeOf(c.var.marketplace).toEqualTypeOf<Marketplace<"api_calls">>();
      expectTypeOf(c.var.subscription).toEqualTypeOf<AccessAllowed | undefined>();
      // @ts-expect-error: not a listed dimension
      c.var.marketplace.record({ identity: { customerIdentifier: "c-1" }, dimension: "gb", quantity: 1 });
      return c.text("ok");
    });
  });

  it("carries the env through the middlewares", () => {
    new Hono()
      .use(meterUsage(marketplace, { dimension: "api_calls" }))
      .use(requireSubscription(marketplace))
      .get("/", (c) => {
        expectTypeOf(c.var.marketplace).toEqualTypeOf<Marketplace<"api_calls">>();
        expectTypeOf(c.var.subscription).toEqualTypeOf<AccessAllowed | undefined>();
        return c.text("ok");
      });
  });
});
