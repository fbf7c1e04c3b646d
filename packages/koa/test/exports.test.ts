import * as core from "@marketmeter/core";
import { describe, expect, it } from "vitest";

describe("@marketmeter/koa public exports", () => {
  it("re-exports the whole core API, so users install one package", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    // createMarketplace is the adapter's own: the core's plus the settings declared once (getCustomer).
    for (const [key, value] of Object.entries(core))
      if (key !== "createMarketplace") expect(mod[key], key).toBe(value);
  });

  it("adds the same factory names as every other adapter", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    const own = Object.keys(mod)
      .filter((k) => !(k in core))
      .sort();
    expect(own).toMatchInlineSnapshot(`
      [
        "eventBridgeHandler",
        "meter",
        "meterUsage",
        "registrationHandler",
        "requireSubscription",
        "skipMetering",
        "snsHandler",
      ]
    `);
  });
});
