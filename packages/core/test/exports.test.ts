// The public surface of @marketmeter/core, one snapshot per entry point: additions, removals and moves
// between entries show up in review as a snapshot change.
import { describe, expect, it } from "vitest";

const names = (mod: Record<string, unknown>) =>
  Object.keys(mod)
    .sort()
    .map((k) => `${k}: ${typeof mod[k]}`);

describe("@marketmeter/core public exports", () => {
  it("the main entry holds only what an app author uses", async () => {
    const mod = (await import("../src/index.js")) as Record<string, unknown>;
    expect(names(mod)).toMatchInlineSnapshot(`
      [
        "MarketplaceError: function",
        "activeEntitlements: function",
        "closeOnShutdown: function",
        "createAwsClients: function",
        "createBuyers: function",
        "createDeployment: function",
        "createMarketplace: function",
        "deploymentRegion: function",
        "identityFromKey: function",
        "identityKey: function",
        "identityMode: function",
        "isMarketplaceError: function",
        "isValidAccountId: function",
        "isValidLicenseArn: function",
        "isValidProductCode: function",
        "licenseIdOf: function",
        "memoryDirectoryStore: function",
        "memoryStore: function",
        "parseIdentity: function",
        "resolveDeploymentRegion: function",
        "silentLogger: object",
      ]
    `);
  });

  it("`@marketmeter/core/http` holds what adapter authors need", async () => {
    const mod = (await import("../src/http.js")) as Record<string, unknown>;
    expect(names(mod)).toMatchInlineSnapshot(`
      [
        "DEFAULT_METER_STATE: object",
        "DENIAL_HTTP_STATUS: object",
        "METER_STATE: symbol",
        "PROBLEM_JSON: string",
        "SUBSCRIPTION_KEY: symbol",
        "USAGE_CSP: string",
        "acceptOf: function",
        "applyMeterSpec: function",
        "buyerUsageFragment: function",
        "closeOnShutdown: function",
        "createBuyerUsage: function",
        "createGuard: function",
        "createMeter: function",
        "createRoute: function",
        "createSnsVerifier: function",
        "createUsagePage: function",
        "declareHttpSettings: function",
        "escapeHtml: function",
        "findMeterState: function",
        "firstToFinish: function",
        "handleRegistration: function",
        "handleWebhook: function",
        "httpSettingsOf: function",
        "isLoopback: function",
        "meterStateOf: function",
        "parseMeterSpec: function",
        "parseRegistrationForm: function",
        "parseSnsEnvelope: function",
        "parseUsagePageQuery: function",
        "prefersJson: function",
        "problem: function",
        "problemError: function",
        "problemFromError: function",
        "problemOf: function",
        "problemPage: function",
        "problemResponse: function",
        "readNodeBody: function",
        "readWebBody: function",
        "registrationError: function",
        "renderUsagePage: function",
        "resolveRegistrationOptions: function",
        "resolveWebhookOptions: function",
        "skipMeteringOf: function",
        "snsStringToSign: function",
        "statusTitle: function",
        "subjectOf: function",
        "summarizeBuyerUsage: function",
        "webhookError: function",
        "withQueryParam: function",
      ]
    `);
  });

  it("`@marketmeter/core/store` holds what store authors need", async () => {
    const mod = (await import("../src/store.js")) as Record<string, unknown>;
    expect(names(mod)).toMatchInlineSnapshot(`
      [
        "CHECKPOINT_RETENTION_MS: number",
        "Directory: function",
        "GRAIN_STATES: object",
        "HOUR_MS: number",
        "MAX_ALLOCATIONS: number",
        "MAX_QUANTITY: number",
        "MAX_TAGS: number",
        "acceptanceDeadline: function",
        "applyAdd: function",
        "applyClaim: function",
        "applyRelease: function",
        "applySettle: function",
        "checkCheckpoint: function",
        "checkSendToken: function",
        "compareForClaim: function",
        "directoryStoreConformance: function",
        "grainKey: function",
        "holdsLease: function",
        "hourStart: function",
        "isAcceptable: function",
        "isAppliedCheckpoint: function",
        "isClaimable: function",
        "isTerminalState: function",
        "matchesQuery: function",
        "mergeAllocations: function",
        "newGrain: function",
        "parseCustomerRecord: function",
        "parseGrainKey: function",
        "parseStoredRegistration: function",
        "sampleCustomer: function",
        "sampleLicenseEvent: function",
        "sampleRegistration: function",
        "splitDelta: function",
        "storeConformance: function",
        "systemClock: function",
        "tagSetKey: function",
        "takeToken: function",
      ]
    `);
  });

  it("no runtime name is exported by two entries, except closeOnShutdown (apps and adapters both use it)", async () => {
    const entries = await Promise.all([
      import("../src/index.js"),
      import("../src/http.js"),
      import("../src/store.js"),
    ]);
    const seen = new Map<string, number>();
    for (const mod of entries) for (const k of Object.keys(mod)) seen.set(k, (seen.get(k) ?? 0) + 1);
    expect([...seen].filter(([, n]) => n > 1).map(([k]) => k)).toEqual(["closeOnShutdown"]);
  });
});
