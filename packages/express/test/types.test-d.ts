// What the Express adapter's types promise (vitest typecheck): the accessors are typed, and the
// marketplace keeps its literal dimensions.
import type { AccessAllowed } from "@marketmeter/core";
import type { Request } from "express";
import { describe, expectTypeOf, it } from "vitest";
import { createMarketplace, getMarketplace, getSubscription, type Marketplace } from "../src/index.js";

describe("express adapter types", () => {
  it("types getSubscription(req) and getMarketplace(req)", () => {
    expectTypeOf(getSubscription).parameter(0).toEqualTypeOf<Request>();
    expectTypeOf(getSubscription).returns.toEqualTypeOf<AccessAllowed | undefined>();
    expectTypeOf(getMarketplace).returns.toEqualTypeOf<Marketplace>();
  });

  it("narrows record() to the literal dimensions, with the customer resolver typed by Express", () => {
    const marketplace = createMarketplace({
      products: [{ productCode: "pca1234567890abcdefghijkl" }],
      dimensions: ["api_calls"],
      dryRun: true,
      getCustomer: (req) => {
        expectTypeOf(req).toEqualTypeOf<Request>();
        return req.header("x-tenant");
      },
    });
    expectTypeOf(marketplace).toEqualTypeOf<Marketplace<"api_calls">>();
    const identity = { customerIdentifier: "c-1" };
    // @ts-expect-error: not a listed dimension
    marketplace.record({ identity, dimension: "gb_stored", quantity: 1 });
  });
});
