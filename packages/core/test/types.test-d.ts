// What the types promise app authors, checked by the compiler (vitest typecheck): a literal `dimensions`
// list makes `record()` refuse any other dimension, and the instance is typed by it.
import { describe, expectTypeOf, it } from "vitest";
import { createMarketplace, type Marketplace } from "../src/index.js";

const identity = {
  customerAWSAccountId: "123456789012",
  licenseArn: "arn:aws:license-manager::1:license:l-1",
};

describe("createMarketplace types", () => {
  it("narrows record() to the literal dimensions", () => {
    const marketplace = createMarketplace({
      products: [{ productCode: "pca1234567890abcdefghijkl" }],
      dimensions: ["api_calls", "gb_stored"],
      dryRun: true,
    });
    expectTypeOf(marketplace).toEqualTypeOf<Marketplace<"api_calls" | "gb_stored">>();
    expectTypeOf(marketplace.record)
      .parameter(0)
      .toHaveProperty("dimension")
      .toEqualTypeOf<"api_calls" | "gb_stored">();
    marketplace.record({ identity, dimension: "api_calls", quantity: 1 });
    // @ts-expect-error: "api_call" is not one of the listed dimensions
    marketplace.record({ identity, dimension: "api_call", quantity: 1 });
  });

  it("accepts any string when the dimensions are not literal", () => {
    const dimensions: string[] = ["api_calls"];
    const marketplace = createMarketplace({
      products: [{ productCode: "pca1234567890abcdefghijkl" }],
      dimensions,
    });
    expectTypeOf(marketplace).toEqualTypeOf<Marketplace<string>>();
    marketplace.record({ identity, dimension: "anything", quantity: 1 });
  });
});
