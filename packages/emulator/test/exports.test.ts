// The public surface of @marketmeter/emulator: additions and removals show up in review as a snapshot change.
import { describe, expect, it } from "vitest";

describe("@marketmeter/emulator public exports", () => {
  it("exports exactly these names", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    expect(
      Object.keys(mod)
        .sort()
        .map((k) => `${k}: ${typeof mod[k]}`),
    ).toMatchInlineSnapshot(`
      [
        "BillingPageError: function",
        "DEFAULT_REGIONS: object",
        "DEFAULT_SELLER_ACCOUNT_ID: string",
        "DEMO: object",
        "EmulatorError: function",
        "EmulatorState: function",
        "MARKETPLACE_TOPIC_ACCOUNT: string",
        "NotifierError: function",
        "OPERATIONS: object",
        "buildEventBridgeEvents: function",
        "createClock: function",
        "createEmulatorState: function",
        "createNotifier: function",
        "defaultProfile: function",
        "demoConfig: function",
        "eventBridgeDetailTypes: function",
        "formatCall: function",
        "fulfillmentFormBody: function",
        "isEmulatorError: function",
        "isLoopbackHost: function",
        "isNotifierError: function",
        "loadConfig: function",
        "postFulfillmentForm: function",
        "renderBillingPage: function",
        "snsStringToSign: function",
        "startEmulator: function",
        "toSqsBody: function",
        "validateWebhooks: function",
      ]
    `);
  });
});
