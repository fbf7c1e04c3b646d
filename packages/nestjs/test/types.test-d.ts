// What the NestJS adapter's types promise (vitest typecheck): the access decision is typed.
import type { AccessAllowed } from "@marketmeter/core";
import { describe, expectTypeOf, it } from "vitest";
import { getSubscription, Subscription } from "../src/index.js";

describe("nestjs adapter types", () => {
  it("types getSubscription(req) and @Subscription()", () => {
    expectTypeOf(getSubscription).returns.toEqualTypeOf<AccessAllowed | undefined>();
    expectTypeOf(Subscription).returns.toEqualTypeOf<ParameterDecorator>();
    // @ts-expect-error: a request is an object
    getSubscription("not a request");
  });
});
