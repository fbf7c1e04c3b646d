/**
 * `@marketmeter/koa`: AWS Marketplace metering, registration, lifecycle webhooks and access checks as
 * Koa middleware. A thin translation over the framework-free layer in `@marketmeter/core`.
 */
import type { AccessAllowed, Marketplace } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { Context, Middleware } from "koa";

// The core's user-facing API, re-exported so an app installs one package; adapter-author and
// store-author names stay in `@marketmeter/core/http` and `@marketmeter/core/store`.
export {
  MarketplaceError,
  activeEntitlements,
  closeOnShutdown,
  createAwsClients,
  createBuyers,
  createMarketplace,
  identityFromKey,
  identityKey,
  identityMode,
  isMarketplaceError,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
  memoryDirectoryStore,
  memoryStore,
  parseIdentity,
  silentLogger,
} from "@marketmeter/core";
export type {
  AccessAllowed,
  AccessDecision,
  AccessDenialReason,
  AccessDenied,
  AccessSubject,
  AccountIdentity,
  Allocation,
  AwsClients,
  AwsCredentials,
  AwsOptions,
  BuyerProduct,
  Buyers,
  BuyersOptions,
  Clock,
  CloseOnShutdownOptions,
  CustomerRecord,
  CustomerRef,
  CustomerStatus,
  DirectoryStore,
  Entitlement,
  GrainInfo,
  GrainOutcome,
  GrainReport,
  GrainState,
  Identity,
  IdentityInput,
  IdentityMode,
  IncomingRequest,
  LegacyIdentity,
  LicenseIdentity,
  LifecycleAction,
  LifecycleEvent,
  LifecycleOutcome,
  Logger,
  Marketplace,
  MarketplaceErrorCode,
  MarketplaceErrorOptions,
  MarketplaceEventName,
  MarketplaceEvents,
  MarketplaceOptions,
  MarketplaceStats,
  MemoryDirectoryStoreOptions,
  MemoryStoreOptions,
  Problem,
  ProductConfig,
  Registration,
  ReportQuery,
  RequestHeaders,
  SnsTopicOwner,
  StoredGrain,
  Tags,
  UsageInput,
  UsageStore,
  ZeroRecordsOptions,
} from "@marketmeter/core";

/** Handler arguments every Koa callback receives. */
export type KoaArgs = [ctx: Context];
/** Options of {@link meterUsage}. */
export type MeterUsageOptions = http.MeterUsageOptions<KoaArgs>;
/** A route's quantity: a number, or computed from the finished context. */
export type Quantity = http.QuantitySpec<KoaArgs>;
/** Options of {@link requireSubscription}. */
export type RequireSubscriptionOptions = http.RequireSubscriptionOptions<KoaArgs>;
export type RegistrationHandlerOptions = http.RegistrationHandlerOptions;
export type WebhookHandlerOptions = http.WebhookHandlerOptions;

/**
 * What marketmeter puts on `ctx.state`: the marketplace (for manual recording) and, after
 * `requireSubscription`, the access decision.
 *
 * @example
 * const router = new Router<MarketmeterState>()
 * router.get("/x", (ctx) => ctx.state.marketplace.record(…))
 */
export interface MarketmeterState<M = Marketplace> {
  marketplace: M;
  subscription?: AccessAllowed;
}

function provide(ctx: Context, marketplace: unknown): void {
  if (ctx.state.marketplace === undefined) ctx.state.marketplace = marketplace;
}

function send(ctx: Context, result: http.HttpResult): void {
  ctx.status = result.status;
  ctx.set(result.headers);
  ctx.body = result.body;
}

/** A body that a parser (koa-bodyparser, @koa/bodyparser) already read, if any. */
const parsedBody = (ctx: Context): unknown => (ctx.request as { body?: unknown }).body;

/**
 * Meters every request that finishes with a status below 400 (by default one unit of `dimension`), for
 * the customer `getCustomer` names. Recording happens when the response has finished and never changes it.
 *
 * @example
 * app.use(meterUsage(marketplace, { getCustomer: (ctx) => ctx.state.user?.tenantId, dimension: "api_calls" }))
 */
export function meterUsage(marketplace: http.MeteringTarget, options: MeterUsageOptions): Middleware {
  const meter = http.createMeter<KoaArgs>(marketplace, options);
  return (ctx, next) => {
    provide(ctx, marketplace);
    // The route's state (on ctx.state, shared by koa-mount and nested routers, and only there when an
    // override, skipMetering() or requireSubscription() made one) is looked up when the response has
    // finished; when meterUsage is mounted twice only the first listener records. A property added to
    // Node's request object would make Node's own code on it slower, costing microseconds per request.
    const res = ctx.res;
    res.on("finish", () => {
      if (!http.firstToFinish(res)) return;
      const state = http.findMeterState<KoaArgs>(ctx.state);
      if (state === undefined) void meter.finishDefault(res.statusCode, ctx);
      else void meter.finish(state, res.statusCode, [ctx]);
    });
    return next();
  };
}

/**
 * Overrides the dimension and/or quantity for one route. The quantity may be computed from the
 * finished context (bytes sent, rows returned, tokens generated).
 *
 * @example
 * router.post("/completions", meter("tokens", (ctx) => ctx.state.tokens), handler)
 */
export function meter(dimension: string | http.MeterSpec<KoaArgs>, quantity?: Quantity): Middleware {
  const spec = http.parseMeterSpec<KoaArgs>(dimension, quantity);
  return (ctx, next) => {
    http.applyMeterSpec(ctx.state, spec);
    return next();
  };
}

/**
 * Leaves this route's requests unbilled (health checks, free endpoints).
 *
 * @example
 * router.get("/health", skipMetering(), (ctx) => { ctx.body = "ok" })
 */
export function skipMetering(): Middleware {
  return (ctx, next) => {
    http.skipMeteringOf(ctx.state);
    return next();
  };
}

/**
 * The fulfillment URL: reads the form itself (no body parser needed), resolves the token, and redirects
 * (303) to `signUpUrl?registration=<id>`; bad or expired tokens get a readable page (or problem JSON).
 *
 * @example
 * router.post("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup" }))
 */
export function registrationHandler(
  marketplace: http.RegistrationTarget,
  options: RegistrationHandlerOptions,
): Middleware {
  const o = http.resolveRegistrationOptions(marketplace, options);
  return async (ctx) => {
    let result: http.HttpResult;
    try {
      const body = await http.readNodeBody(ctx.req, o.maxBodyBytes, parsedBody(ctx));
      result = await http.handleRegistration(
        marketplace,
        { method: ctx.method, headers: ctx.headers, url: ctx.originalUrl, body },
        o,
      );
    } catch (err) {
      result = http.registrationError(err, ctx.get("accept"), o);
    }
    send(ctx, result);
  };
}

function webhook(
  kind: http.WebhookKind,
  marketplace: http.LifecycleTarget,
  options?: WebhookHandlerOptions,
): Middleware {
  const o = http.resolveWebhookOptions(marketplace, kind, options);
  return async (ctx) => {
    let result: http.HttpResult;
    try {
      const body = await http.readNodeBody(ctx.req, o.maxBodyBytes, parsedBody(ctx));
      result = await http.handleWebhook(
        marketplace,
        kind,
        { method: ctx.method, headers: ctx.headers, url: ctx.originalUrl, body },
        o,
      );
    } catch (err) {
      result = http.webhookError(err, kind, o);
    }
    send(ctx, result);
  };
}

/**
 * EventBridge API-destination webhook (authenticated by `buyers.eventBridge.secret`).
 *
 * @example
 * router.post("/marketplace/events", eventBridgeHandler(marketplace))
 */
export function eventBridgeHandler(
  marketplace: http.LifecycleTarget,
  options?: WebhookHandlerOptions,
): Middleware {
  return webhook("eventBridge", marketplace, options);
}

/**
 * SNS HTTP(S) subscription endpoint (signature-verified; reads the raw text body itself).
 *
 * @example
 * router.post("/marketplace/sns", snsHandler(marketplace))
 */
export function snsHandler(marketplace: http.LifecycleTarget, options?: WebhookHandlerOptions): Middleware {
  return webhook("sns", marketplace, options);
}

/**
 * Lets only customers with a usable subscription through (decision on `ctx.state.subscription`); others
 * get 402/403 with a problem body. Fails closed (503) when the check itself fails, unless `failOpen: true`.
 *
 * @example
 * router.use("/api", requireSubscription(marketplace, { getCustomer: (ctx) => ctx.state.user?.tenantId }))
 */
export function requireSubscription(
  marketplace: http.AccessTarget,
  options: RequireSubscriptionOptions,
): Middleware {
  const guard = http.createGuard<KoaArgs>(marketplace, options);
  return async (ctx, next) => {
    const result = await guard([ctx], ctx.path);
    if (!result.allowed) return send(ctx, http.problemResponse(result.problem, result.headers));
    provide(ctx, marketplace);
    if (result.decision) ctx.state.subscription = result.decision;
    return next();
  };
}
