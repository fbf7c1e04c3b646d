/**
 * `@marketmeter/koa`: AWS Marketplace metering, registration, lifecycle webhooks and access checks as
 * Koa middleware. A thin translation over the framework-free layer in `@marketmeter/core`.
 */
import type { AccessAllowed, CustomerRef, Marketplace, MarketplaceOptions } from "@marketmeter/core";
import { createMarketplace as createCoreMarketplace } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { Context, Middleware } from "koa";

// The core's user-facing API, re-exported so an app installs one package; adapter-author and
// store-author names stay in `@marketmeter/core/http` and `@marketmeter/core/store`.
export type {
  AccessAllowed,
  AccessDecision,
  AccessDenialReason,
  AccessDenied,
  AccessSubject,
  AccountIdentity,
  AgentCoreMetering,
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
  DeploymentInfo,
  DeploymentMarketplace,
  DeploymentMode,
  DeploymentOptions,
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
  ResolveRegionOptions,
  SnsTopicOwner,
  StoredGrain,
  Tags,
  UsageInput,
  UsageStore,
  ZeroRecordsOptions,
} from "@marketmeter/core";
export {
  activeEntitlements,
  closeOnShutdown,
  createAwsClients,
  createBuyers,
  createDeployment,
  deploymentRegion,
  identityFromKey,
  identityKey,
  identityMode,
  isMarketplaceError,
  isValidAccountId,
  isValidLicenseArn,
  isValidProductCode,
  licenseIdOf,
  MarketplaceError,
  memoryDirectoryStore,
  memoryStore,
  parseIdentity,
  resolveDeploymentRegion,
  silentLogger,
} from "@marketmeter/core";

/** Handler arguments every Koa callback receives. */
export type KoaArgs = [ctx: Context];
/** Options of {@link meterUsage}. */
export type MeterUsageOptions = http.MeterUsageOptions<KoaArgs>;
/** A route's quantity: a number, or computed from the finished context. */
export type Quantity = http.QuantitySpec<KoaArgs>;
/** Options of {@link requireSubscription}. */
export type RequireSubscriptionOptions = http.RequireSubscriptionOptions<KoaArgs>;
export type RegistrationHandlerOptions = http.RouteOptions<"registration">;
export type WebhookHandlerOptions = http.RouteOptions<"sns">;
/** Options of {@link usagePageHandler}. */
export type UsagePageOptions = http.UsagePageOptions<KoaArgs>;
/** Options of {@link buyerUsageHandler}. */
export type BuyerUsageOptions = http.BuyerUsageOptions<KoaArgs>;

/**
 * What marketmeter puts on `ctx.state`: the marketplace (for manual recording) and, after
 * `requireSubscription`, the access decision. The middlewares are typed with it, so apps built by
 * chaining `app.use(...)` see it, and routers take it as their state type.
 *
 * @example
 * const router = new Router<MarketplaceState<typeof marketplace>>()
 * router.get("/x", (ctx) => ctx.state.marketplace.record(…))
 */
export interface MarketplaceState<M = Marketplace> {
  marketplace: M;
  subscription?: AccessAllowed;
}

/** Options of {@link createMarketplace}: the core's, plus the customer resolver every middleware uses. */
export type MarketplaceKoaOptions<D extends readonly string[]> = MarketplaceOptions<D> & {
  /** Who a request belongs to, declared once for `meterUsage` and `requireSubscription`. */
  getCustomer?: (ctx: Context) => http.Awaitable<CustomerRef>;
};

/**
 * The core's `createMarketplace` (whose `logger` and `buyers.*.maxBodyBytes` every handler uses), plus
 * `getCustomer`, declared once for every `meterUsage` and `requireSubscription` not given their own.
 *
 * @example
 * const marketplace = createMarketplace({ products, dimensions: ["api_calls"], getCustomer: (ctx) => ctx.state.user?.tenantId })
 */
export function createMarketplace<const D extends readonly string[]>(
  options: MarketplaceKoaOptions<D>,
): Marketplace<D[number]> {
  const { getCustomer, ...rest } = options;
  return http.declareHttpSettings(createCoreMarketplace(rest as MarketplaceOptions<D>), { getCustomer });
}

function provide(state: { marketplace?: unknown }, marketplace: unknown): void {
  if (state.marketplace === undefined) state.marketplace = marketplace;
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
export function meterUsage<M extends http.MeteringTarget>(
  marketplace: M,
  options: MeterUsageOptions,
): Middleware<MarketplaceState<M>> {
  const meter = http.createMeter<KoaArgs>(marketplace, options);
  return (ctx, next) => {
    provide(ctx.state, marketplace);
    // The route's state (on ctx.state, shared by koa-mount and nested routers, and only there when an
    // override, skipMetering() or requireSubscription() made one) is looked up when the response has
    // finished; when meterUsage is mounted twice only the first listener records. A property added to
    // Node's request object would make Node's own code on it slower, costing microseconds per request.
    const res = ctx.res;
    res.on("finish", () => {
      if (!http.firstToFinish(res)) return;
      const state = http.findMeterState<KoaArgs>(ctx.state);
      if (state === undefined) void meter.finishDefault(res.statusCode, ctx as Context);
      else void meter.finish(state, res.statusCode, [ctx as Context]);
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

/** Serves a core route on a Koa context (reads the raw body unless a parser already did). */
function serve(route: http.Route): Middleware {
  return (ctx) =>
    route.serve({
      method: ctx.method,
      headers: ctx.headers,
      url: ctx.originalUrl,
      read: (max) => http.readNodeBody(ctx.req, max, parsedBody(ctx)),
      write: (result) => send(ctx, result),
    });
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
  return serve(http.createRoute("registration", marketplace, options));
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
  return serve(http.createRoute("eventBridge", marketplace, options));
}

/**
 * SNS HTTP(S) subscription endpoint (signature-verified; reads the raw text body itself).
 *
 * @example
 * router.post("/marketplace/sns", snsHandler(marketplace))
 */
export function snsHandler(marketplace: http.LifecycleTarget, options?: WebhookHandlerOptions): Middleware {
  return serve(http.createRoute("sns", marketplace, options));
}

/** Serves a core usage view. The peer is the socket's, never `X-Forwarded-For`, which any client can set. */
function serveUsage(handle: (request: http.UsageRequest<KoaArgs>) => Promise<http.HttpResult>): Middleware {
  return async (ctx) => {
    // Looking at usage is never billed.
    http.skipMeteringOf(ctx.state);
    send(
      ctx,
      await handle({
        method: ctx.method,
        url: ctx.originalUrl,
        headers: ctx.headers,
        remoteAddress: ctx.req.socket.remoteAddress,
        args: [ctx],
      }),
    );
  };
}

/**
 * The seller's read-only usage page (every customer's usage by hour, states, `MeteringRecordId`s,
 * rejections, totals). Needs `authorize` (or `localOnly: true` for development): it throws
 * `INVALID_CONFIG` otherwise. Refusals: 401 (authorize said no), 403 (localOnly, remote peer).
 *
 * @example
 * router.get("/admin/usage", usagePageHandler(marketplace, { authorize: (ctx) => ctx.get("x-admin-token") === token }))
 */
export function usagePageHandler(marketplace: http.UsageTarget, options: UsagePageOptions): Middleware {
  return serveUsage(http.createUsagePage<KoaArgs>(marketplace, options));
}

/**
 * The calling customer's own usage (this month and last, by dimension and hour, sent vs open) as JSON,
 * or as an HTML fragment with `?format=html`. Resolved with `getCustomer`; 401 without a customer.
 *
 * @example
 * router.get("/account/usage", authenticate, buyerUsageHandler(marketplace))
 */
export function buyerUsageHandler(
  marketplace: http.BuyerUsageTarget,
  options?: BuyerUsageOptions,
): Middleware {
  return serveUsage(http.createBuyerUsage<KoaArgs>(marketplace, options));
}

/**
 * Koa's last-resort handler for a refusal no middleware of the app caught: the problem JSON exactly as
 * a returned response would carry it (Koa's own would turn it into plain text).
 */
function answerUncaught(ctx: Context, err: http.ProblemError): void {
  const fallback = ctx.onerror;
  ctx.onerror = function onerror(this: Context, e: Error | null) {
    if (e !== err || ctx.headerSent || !ctx.writable) return fallback.call(this, e as Error);
    const result = http.problemResponse(err.problem, err.headers);
    ctx.res.statusCode = result.status;
    for (const [name, value] of Object.entries(result.headers)) ctx.res.setHeader(name, value);
    ctx.res.setHeader("content-length", Buffer.byteLength(result.body));
    ctx.res.end(ctx.method === "HEAD" ? undefined : result.body);
  };
}

/**
 * Lets only customers with a usable subscription through (decision on `ctx.state.subscription`); others
 * are refused with 402/403, and 503 when the check itself fails (unless `failOpen: true`). A refusal is
 * thrown as a status error (`status`, `expose`, `headers`, and the `problem`) for the app's error
 * middleware; uncaught, it is answered with the problem JSON.
 *
 * @example
 * router.use("/api", requireSubscription(marketplace, { getCustomer: (ctx) => ctx.state.user?.tenantId }))
 */
export function requireSubscription<M extends http.AccessTarget>(
  marketplace: M,
  options: RequireSubscriptionOptions = {},
): Middleware<MarketplaceState<M>> {
  const guard = http.createGuard<KoaArgs>(marketplace, options);
  return async (ctx, next) => {
    const result = await guard([ctx as Context], ctx.path);
    if (!result.allowed) {
      const err = http.problemError(result.problem, result.headers);
      answerUncaught(ctx as Context, err);
      throw err;
    }
    provide(ctx.state, marketplace);
    if (result.decision) ctx.state.subscription = result.decision;
    return next();
  };
}
