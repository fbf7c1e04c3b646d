/**
 * `@marketmeter/hono`: AWS Marketplace metering, registration, lifecycle webhooks and access checks as
 * Hono middleware. A thin translation over the framework-free layer in `@marketmeter/core`.
 */
import type { AccessAllowed, CustomerRef, Marketplace, MarketplaceOptions } from "@marketmeter/core";
import { createMarketplace as createCoreMarketplace } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { Context, MiddlewareHandler } from "hono";
import { HTTPException } from "hono/http-exception";

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

/**
 * The variables marketmeter sets, for `new Hono<MarketplaceEnv>()` or `createMiddleware<MarketplaceEnv>()`:
 * `c.var.marketplace` (manual recording) and, after `requireSubscription`, `c.var.subscription`. The
 * middlewares are typed with it, so `new Hono().use(meterUsage(marketplace, …))` sees them.
 *
 * @example
 * const app = new Hono<MarketplaceEnv<typeof marketplace>>()
 * app.get("/x", (c) => { c.var.marketplace.record(…); return c.text("ok") })
 */
export type MarketplaceEnv<M = Marketplace> = {
  Variables: {
    marketplace: M;
    subscription: AccessAllowed | undefined;
  };
};

/** Handler arguments every Hono callback receives. */
export type HonoArgs = [c: Context];
/** Options of {@link meterUsage}. */
export type MeterUsageOptions = http.MeterUsageOptions<HonoArgs>;
/** A route's quantity: a number, or computed from the finished context (`c.res`). */
export type Quantity = http.QuantitySpec<HonoArgs>;
/** Options of {@link requireSubscription}. */
export type RequireSubscriptionOptions = http.RequireSubscriptionOptions<HonoArgs>;
export type RegistrationHandlerOptions = http.RouteOptions<"registration">;
export type WebhookHandlerOptions = http.RouteOptions<"sns">;
/** Options of {@link usagePageHandler}. */
export type UsagePageOptions = http.UsagePageOptions<HonoArgs>;
/** Options of {@link buyerUsageHandler}. */
export type BuyerUsageOptions = http.BuyerUsageOptions<HonoArgs>;

/** Options of {@link createMarketplace}: the core's, plus the customer resolver every middleware uses. */
export type MarketplaceHonoOptions<D extends readonly string[]> = MarketplaceOptions<D> & {
  /** Who a request belongs to, declared once for `meterUsage` and `requireSubscription`. */
  getCustomer?: (c: Context) => http.Awaitable<CustomerRef>;
};

/**
 * The core's `createMarketplace` (whose `logger` and `buyers.*.maxBodyBytes` every handler uses), plus
 * `getCustomer`, declared once for every `meterUsage` and `requireSubscription` not given their own.
 *
 * @example
 * const marketplace = createMarketplace({ products, dimensions: ["api_calls"], getCustomer: (c) => c.get("tenantId") })
 */
export function createMarketplace<const D extends readonly string[]>(
  options: MarketplaceHonoOptions<D>,
): Marketplace<D[number]> {
  const { getCustomer, ...rest } = options;
  return http.declareHttpSettings(createCoreMarketplace(rest as MarketplaceOptions<D>), { getCustomer });
}

function provide(c: Context, marketplace: unknown): void {
  if (c.get("marketplace") === undefined) c.set("marketplace", marketplace);
}

/** Keeps serverless runtimes alive until late work settles; `executionCtx` throws where there is none. */
function waitUntil(c: Context, work: Promise<void>): void {
  try {
    c.executionCtx.waitUntil(work);
  } catch {
    // Node and Bun: the process outlives the response anyway.
  }
}

const respond = (r: http.HttpResult): Response =>
  new Response(r.body, { status: r.status, headers: r.headers });

/** The raw body, or what an earlier `c.req.*()` call left in Hono's body cache. */
function bodyOf(c: Context, maxBytes: number): Promise<Uint8Array | string | undefined> {
  return c.req.raw.bodyUsed ? c.req.text() : http.readWebBody(c.req.raw, maxBytes);
}

/**
 * Meters every request that finishes with a status below 400 (by default one unit of `dimension`), for
 * the customer `getCustomer` names. Runs after `await next()`, reading `c.res.status`; never changes it.
 *
 * @example
 * app.use(meterUsage(marketplace, { getCustomer: (c) => c.get("tenantId"), dimension: "api_calls" }))
 */
export function meterUsage<M extends http.MeteringTarget>(
  marketplace: M,
  options: MeterUsageOptions,
): MiddlewareHandler<MarketplaceEnv<M>> {
  const meter = http.createMeter<HonoArgs>(marketplace, options);
  return async (c, next) => {
    provide(c, marketplace);
    // Per-request state on the Context (shared by sub-apps joined with app.route()): a property added to
    // the Request, which the Node adapter builds lazily, costs microseconds per request.
    const state = meter.begin(c);
    await next();
    if (state === undefined) return;
    const late = meter.finish(state, c.res.status, [c]);
    if (late) waitUntil(c, late);
  };
}

/**
 * Overrides the dimension and/or quantity for one route. The quantity may be computed from the
 * finished context (bytes sent, rows returned, tokens generated).
 *
 * @example
 * app.post("/completions", meter("tokens", (c) => Number(c.res.headers.get("x-tokens"))), handler)
 */
export function meter(
  dimension: string | http.MeterSpec<HonoArgs>,
  quantity?: Quantity,
): MiddlewareHandler<MarketplaceEnv> {
  const spec = http.parseMeterSpec<HonoArgs>(dimension, quantity);
  return async (c, next) => {
    http.applyMeterSpec(c, spec);
    await next();
  };
}

/**
 * Leaves this route's requests unbilled (health checks, free endpoints).
 *
 * @example
 * app.get("/health", skipMetering(), (c) => c.text("ok"))
 */
export function skipMetering(): MiddlewareHandler<MarketplaceEnv> {
  return async (c, next) => {
    http.skipMeteringOf(c);
    await next();
  };
}

/** Serves a core route on a Hono context (reads the raw body, or what Hono already cached). */
function serve(route: http.Route): MiddlewareHandler<MarketplaceEnv> {
  return (c) =>
    route.serve({
      method: c.req.method,
      headers: c.req.raw.headers,
      url: c.req.url,
      read: (max) => bodyOf(c, max),
      write: respond,
    });
}

/**
 * The fulfillment URL: reads the form itself, resolves the token, and redirects (303) to
 * `signUpUrl?registration=<id>`; bad or expired tokens get a readable page (or problem JSON).
 *
 * @example
 * app.post("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup" }))
 */
export function registrationHandler(
  marketplace: http.RegistrationTarget,
  options: RegistrationHandlerOptions,
): MiddlewareHandler<MarketplaceEnv> {
  return serve(http.createRoute("registration", marketplace, options));
}

/**
 * EventBridge API-destination webhook (authenticated by `buyers.eventBridge.secret`).
 *
 * @example
 * app.post("/marketplace/events", eventBridgeHandler(marketplace))
 */
export function eventBridgeHandler(
  marketplace: http.LifecycleTarget,
  options?: WebhookHandlerOptions,
): MiddlewareHandler<MarketplaceEnv> {
  return serve(http.createRoute("eventBridge", marketplace, options));
}

/**
 * SNS HTTP(S) subscription endpoint (signature-verified; reads the raw text body itself).
 *
 * @example
 * app.post("/marketplace/sns", snsHandler(marketplace))
 */
export function snsHandler(
  marketplace: http.LifecycleTarget,
  options?: WebhookHandlerOptions,
): MiddlewareHandler<MarketplaceEnv> {
  return serve(http.createRoute("sns", marketplace, options));
}

/**
 * The peer address on Node (`@hono/node-server` puts the request on `c.env.incoming`); other runtimes
 * give undefined, so `localOnly` refuses there (fails closed). Never `X-Forwarded-For`, which any client
 * can set.
 */
function peerOf(c: Context): string | undefined {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}

/** Serves a core usage view. */
function serveUsage(
  handle: (request: http.UsageRequest<HonoArgs>) => Promise<http.HttpResult>,
): MiddlewareHandler<MarketplaceEnv> {
  return async (c) => {
    // Looking at usage is never billed.
    http.skipMeteringOf(c);
    return respond(
      await handle({
        method: c.req.method,
        url: c.req.url,
        headers: c.req.raw.headers,
        remoteAddress: peerOf(c),
        args: [c],
      }),
    );
  };
}

/**
 * The seller's read-only usage page (every customer's usage by hour, states, `MeteringRecordId`s,
 * rejections, totals). Needs `authorize` (or `localOnly: true` for development, Node only): it throws
 * `INVALID_CONFIG` otherwise. Refusals: 401 (authorize said no), 403 (localOnly, remote peer).
 *
 * @example
 * app.get("/admin/usage", usagePageHandler(marketplace, { authorize: (c) => c.req.header("x-admin-token") === token }))
 */
export function usagePageHandler(
  marketplace: http.UsageTarget,
  options: UsagePageOptions,
): MiddlewareHandler<MarketplaceEnv> {
  return serveUsage(http.createUsagePage<HonoArgs>(marketplace, options));
}

/**
 * The calling customer's own usage (this month and last, by dimension and hour, sent vs open) as JSON,
 * or as an HTML fragment with `?format=html`. Resolved with `getCustomer`; 401 without a customer.
 *
 * @example
 * app.get("/account/usage", authenticate, buyerUsageHandler(marketplace))
 */
export function buyerUsageHandler(
  marketplace: http.BuyerUsageTarget,
  options?: BuyerUsageOptions,
): MiddlewareHandler<MarketplaceEnv> {
  return serveUsage(http.createBuyerUsage<HonoArgs>(marketplace, options));
}

/**
 * Lets only customers with a usable subscription through (decision on `c.var.subscription`); others are
 * refused with 402/403, and 503 when the check itself fails (unless `failOpen: true`). A refusal is
 * thrown as an `HTTPException` whose response is the problem JSON (its `cause` is the `MarketplaceError`
 * with the `problem`), so `app.onError` can restyle it and Hono's default answers it as is.
 *
 * @example
 * app.use("/api/*", requireSubscription(marketplace, { getCustomer: (c) => c.get("tenantId") }))
 */
export function requireSubscription<M extends http.AccessTarget>(
  marketplace: M,
  options: RequireSubscriptionOptions = {},
): MiddlewareHandler<MarketplaceEnv<M>> {
  const guard = http.createGuard<HonoArgs>(marketplace, options);
  return async (c, next) => {
    const result = await guard([c], c.req.path);
    if (!result.allowed)
      throw new HTTPException(result.problem.status as 402, {
        res: respond(http.problemResponse(result.problem, result.headers)),
        message: result.problem.detail,
        cause: http.problemError(result.problem, result.headers),
      });
    provide(c, marketplace);
    c.set("subscription", result.decision);
    await next();
  };
}
