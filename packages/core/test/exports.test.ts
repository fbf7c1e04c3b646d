// The public surface of @marketmeter/core: additions and removals show up in review as a snapshot change.
import { describe, expect, it } from "vitest";

describe("@marketmeter/core public exports", () => {
  it("exports exactly these names", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    expect(
      Object.keys(mod)
        .sort()
        .map((k) => `${k}: ${typeof mod[k]}`),
    ).toMatchInlineSnapshot(`
      [
        "DENIAL_HTTP_STATUS: object",
        "Directory: function",
        "GRAIN_STATES: object",
        "HOUR_MS: number",
        "MAX_ALLOCATIONS: number",
        "MAX_QUANTITY: number",
        "MAX_TAGS: number",
        "MarketplaceError: function",
        "acceptanceDeadline: function",
        "activeEntitlements: function",
        "applyAdd: function",
        "applyClaim: function",
        "applyRelease: function",
        "applySettle: function",
        "closeOnShutdown: function",
        "compareForClaim: function",
        "createAwsClients: function",
        "createBuyers: function",
        "createMarketplace: function",
        "createSnsVerifier: function",
        "grainKey: function",
        "holdsLease: function",
        "hourStart: function",
        "http: object",
        "identityFromKey: function",
        "identityKey: function",
        "identityMode: function",
        "isAcceptable: function",
        "isClaimable: function",
        "isMarketplaceError: function",
        "isTerminalState: function",
        "isValidAccountId: function",
        "isValidLicenseArn: function",
        "isValidProductCode: function",
        "licenseIdOf: function",
        "matchesQuery: function",
        "memoryDirectoryStore: function",
        "memoryStore: function",
        "mergeAllocations: function",
        "newGrain: function",
        "parseAwsOptions: function",
        "parseCustomerRecord: function",
        "parseGrainKey: function",
        "parseIdentity: function",
        "parseRegistrationForm: function",
        "parseSnsEnvelope: function",
        "parseStoredRegistration: function",
        "silentLogger: object",
        "snsStringToSign: function",
        "splitDelta: function",
        "systemClock: function",
        "tagSetKey: function",
      ]
    `);
  });
});
