// What the Koa adapter's types promise (vitest typecheck): after meterUsage / requireSubscription,
// ctx.state.marketplace and ctx.state.subscription are typed from the marketplace instance.
import type { AccessAllowed } from "@marketmeter/core";
import Koa from "koa";
import { describe, expectTypeOf, it } from "vitest";
import {
  createMarketplace,
  type Marketplace,
  type MarketplaceState,
  meterUsage,
  requireSubscription,
} from "../src/index.js";

const marketplace = createMarketplace({
  products: [{ productCode: "pca1234567890abcdefghijkl" }],
  dimensions: ["api_calls"],
  dryRun: true,
  getCustomer: (ctx) => ctx.get("x-tenant"),
});

describe("koa adapter types", () => {
  it("types ctx.state after meterUsage and requireSubscription", () => {
    const app = new Koa()
      .use(meterUsage(marketplace, { dimension: "api_calls" }))
      .use(requireSubscription(marketplace));
    app.use((ctx) => {
      expectTypeOf(ctx.state.marketplace).toEqualTypeOf<Marketplace<"api_calls">>();
      expectTypeOf(ctx.state.subscription).toEqualTypeOf<AccessAllowed | undefined>();
      // @ts-expect-error: not a listed dimension
      ctx.state.marketplace.record({ identity: { customerIdentifier: "c-1" }, dimension: "gb", quantity: 1 });
    });
  });

  it("names the state type after the library", () => {
    expectTypeOf<MarketplaceState<typeof marketplace>["marketplace"]>().toEqualTypeOf<
      Marketplace<"api_calls">
    >();
    expectTypeOf<MarketplaceState["subscription"]>().toEqualTypeOf<AccessAllowed | undefined>();
  });
});
