/** Injection tokens, metadata keys and request brands shared by the module's parts. */

/** Injection token of the resolved module options. */
export const MARKETPLACE_OPTIONS = Symbol.for("marketmeter.nestjs.options");
/** Injection token of the marketplace instance (also reachable through `MarketplaceService`). */
export const MARKETPLACE = Symbol.for("marketmeter.nestjs.marketplace");
/** Injection token of the async options returned by `forRootAsync`'s factory. */
export const MARKETPLACE_ASYNC_OPTIONS = Symbol.for("marketmeter.nestjs.asyncOptions");

/** Handler/controller metadata written by `@Meter` and `@SkipMetering`. */
export const METER_METADATA = "marketmeter:meter";
/** Handler/controller metadata written by `@RequireSubscription`. */
export const SUBSCRIPTION_METADATA = "marketmeter:subscription";

// Per-request brands. Symbol.for keeps them equal across two copies of the package in one process.

/** The handler's return value, captured only on routes whose quantity function needs it. */
export const REQ_RESULT = Symbol.for("marketmeter.nestjs.result");
