// The public surface of @marketmeter/express: the core's user-facing names plus the adapter's own, and
// nothing that only adapter or store authors need.
import * as core from "@marketmeter/core";
import * as coreHttp from "@marketmeter/core/http";
import * as coreStore from "@marketmeter/core/store";
import { describe, expect, it } from "vitest";

describe("@marketmeter/express public exports", () => {
  it("re-exports the core's main entry, so users install one package", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    // createMarketplace is the adapter's own: the core's plus the settings declared once (getCustomer).
    for (const [key, value] of Object.entries(core))
      if (key !== "createMarketplace") expect(mod[key], key).toBe(value);
  });

  it("re-exports nothing of `@marketmeter/core/http` or `@marketmeter/core/store`", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    const inner = [...Object.keys(coreHttp), ...Object.keys(coreStore)].filter((k) => !(k in core));
    expect(inner.filter((k) => k in mod)).toEqual([]);
    expect("http" in mod).toBe(false);
  });

  it("adds the same factory names as every other adapter", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    const own = Object.keys(mod)
      .filter((k) => !(k in core))
      .sort();
    expect(own).toMatchInlineSnapshot(`
      [
        "buyerUsageHandler",
        "eventBridgeHandler",
        "getMarketplace",
        "getSubscription",
        "meter",
        "meterUsage",
        "registrationHandler",
        "requireSubscription",
        "skipMetering",
        "snsHandler",
        "usagePageHandler",
      ]
    `);
  });
});
