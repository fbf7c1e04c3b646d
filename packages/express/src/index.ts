/**
 * `@marketmeter/express`: AWS Marketplace metering, registration, lifecycle webhooks and access checks
 * as Express middleware. A thin translation over the framework-free layer in `@marketmeter/core`.
 */
import type { AccessAllowed, CustomerRef, Marketplace, MarketplaceOptions } from "@marketmeter/core";
import { createMarketplace as createCoreMarketplace, MarketplaceError } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { Request, RequestHandler, Response } from "express";

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

/** Handler arguments every Express callback receives. */
export type ExpressArgs = [req: Request, res: Response];
/** Options of {@link meterUsage}. */
export type MeterUsageOptions = http.MeterUsageOptions<ExpressArgs>;
/** A route's quantity: a number, or computed from the finished request and response. */
export type Quantity = http.QuantitySpec<ExpressArgs>;
/** Options of {@link requireSubscription}. */
export type RequireSubscriptionOptions = http.RequireSubscriptionOptions<ExpressArgs>;
export type RegistrationHandlerOptions = http.RouteOptions<"registration">;
export type WebhookHandlerOptions = http.RouteOptions<"sns">;
/** Options of {@link usagePageHandler}. */
export type UsagePageOptions = http.UsagePageOptions<ExpressArgs>;
/** Options of {@link buyerUsageHandler}. */
export type BuyerUsageOptions = http.BuyerUsageOptions<ExpressArgs>;
/** Options of {@link createMarketplace}: the core's, plus the customer resolver every middleware uses. */
export type MarketplaceExpressOptions<D extends readonly string[]> = MarketplaceOptions<D> & {
  /** Who a request belongs to, declared once for `meterUsage` and `requireSubscription`. */
  getCustomer?: (req: Request, res: Response) => http.Awaitable<CustomerRef>;
};

/**
 * The core's `createMarketplace` (whose `logger` and `buyers.*.maxBodyBytes` every handler uses), plus
 * `getCustomer`, declared once for every `meterUsage` and `requireSubscription` not given their own.
 *
 * @example
 * const marketplace = createMarketplace({ products, dimensions: ["api_calls"], getCustomer: (req) => req.user?.tenantId })
 */
export function createMarketplace<const D extends readonly string[]>(
  options: MarketplaceExpressOptions<D>,
): Marketplace<D[number]> {
  const { getCustomer, ...rest } = options;
  return http.declareHttpSettings(createCoreMarketplace(rest as MarketplaceOptions<D>), { getCustomer });
}

// Per-request state lives on `res.locals` (a fresh null-prototype object per request, shared by
// mounted sub-apps), and only on requests that a route override, `skipMetering()` or
// `requireSubscription()` touched: adding properties to `req`, whose prototype Express swaps, costs
// microseconds, and even a property on `res.locals` costs about a microsecond per request here.
const carrier = (res: Response): object => (res.locals ??= Object.create(null) as Response["locals"]);

/** Where a `finish` listener of `meterUsage` names its marketplace, for `getMarketplace(req)`. */
const MARKETPLACE_OF = Symbol.for("marketmeter.express.marketplaceOf");

function provide(res: Response, marketplace: unknown): void {
  const s = http.meterStateOf(carrier(res));
  if (s.marketplace === undefined) s.marketplace = marketplace;
}

function send(res: Response, result: http.HttpResult): void {
  res.status(result.status);
  res.set(result.headers);
  res.end(result.body);
}

/**
 * Meters every request that finishes with a status below 400 (by default one unit of `dimension`), for
 * the customer `getCustomer` names. Recording happens after the response is sent and never changes it.
 *
 * @example
 * app.use(meterUsage(marketplace, { getCustomer: (req) => req.user?.tenantId, dimension: "api_calls" }))
 */
export function meterUsage(marketplace: http.MeteringTarget, options: MeterUsageOptions): RequestHandler {
  const meter = http.createMeter<ExpressArgs>(marketplace, options);
  // One listener shared by every response (no closure per request): the request is `res.req`. The
  // request path only adds it; the route's state (if any) is looked up when the response has finished,
  // and when meterUsage is mounted twice only the first listener records.
  function onFinish(this: Response): void {
    if (!http.firstToFinish(this)) return;
    const state = http.findMeterState<ExpressArgs>(carrier(this));
    if (state === undefined) void meter.finishDefault(this.statusCode, this.req, this);
    else void meter.finish(state, this.statusCode, [this.req, this]);
  }
  (onFinish as unknown as Record<symbol, unknown>)[MARKETPLACE_OF] = marketplace;
  return (_req, res, next) => {
    res.on("finish", onFinish);
    next();
  };
}

/** The marketplace of the first `meterUsage` listening on this response, if any. */
function meteringMarketplace(res: Response): unknown {
  for (const listener of res.listeners("finish")) {
    const m = (listener as unknown as Record<symbol, unknown>)[MARKETPLACE_OF];
    if (m !== undefined) return m;
  }
  return undefined;
}

/**
 * Overrides the dimension and/or quantity for one route. The quantity may be computed from the
 * finished request and response (bytes sent, rows returned, tokens generated).
 *
 * @example
 * app.post("/completions", meter("tokens", (req, res) => res.locals.tokens), handler)
 */
export function meter(dimension: string | http.MeterSpec<ExpressArgs>, quantity?: Quantity): RequestHandler {
  const spec = http.parseMeterSpec<ExpressArgs>(dimension, quantity);
  return (_req, res, next) => {
    http.applyMeterSpec(carrier(res), spec);
    next();
  };
}

/**
 * Leaves this route's requests unbilled (health checks, free endpoints).
 *
 * @example
 * app.get("/health", skipMetering(), (req, res) => res.send("ok"))
 */
export function skipMetering(): RequestHandler {
  return (_req, res, next) => {
    http.skipMeteringOf(carrier(res));
    next();
  };
}

/**
 * The marketplace instance for this request, for manual recording: the one the first `meterUsage` that
 * meters the request was given, else the one `requireSubscription` was given. Throws `INVALID_CONFIG` when no marketmeter middleware ran for the request.
 *
 * @example
 * getMarketplace(req).record({ identity, dimension: "gb_stored", quantity: 5 })
 */
export function getMarketplace(req: Request): Marketplace {
  const res = req.res;
  const m = res ? (meteringMarketplace(res) ?? http.findMeterState(carrier(res))?.marketplace) : undefined;
  if (m === undefined)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "no marketplace on this request: mount meterUsage() or requireSubscription() before this handler",
    );
  return m as Marketplace;
}

/**
 * The access decision `requireSubscription` made for this request (undefined when it failed open or
 * did not run).
 *
 * @example
 * const tenantId = getSubscription(req)?.tenantId
 */
export function getSubscription(req: Request): AccessAllowed | undefined {
  return req.res ? http.findMeterState(carrier(req.res))?.subscription : undefined;
}

/** Serves a core route on an Express request (reads the raw body unless a parser already did). */
function serve(route: http.Route): RequestHandler {
  return (req, res, next) => {
    route
      .serve({
        method: req.method,
        headers: req.headers,
        url: req.originalUrl,
        read: (max) => http.readNodeBody(req, max, req.body),
        write: (result) => send(res, result),
      })
      .catch(next as (err: unknown) => void);
  };
}

/**
 * The fulfillment URL: reads the form itself (no body parser needed), resolves the token, and redirects
 * (303) to `signUpUrl?registration=<id>`; bad or expired tokens get a readable page (or problem JSON).
 *
 * @example
 * app.post("/marketplace/register", registrationHandler(marketplace, { signUpUrl: "/signup" }))
 */
export function registrationHandler(
  marketplace: http.RegistrationTarget,
  options: RegistrationHandlerOptions,
): RequestHandler {
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
): RequestHandler {
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
): RequestHandler {
  return serve(http.createRoute("sns", marketplace, options));
}

/** Serves a core usage view. The peer is the socket's, never `X-Forwarded-For`, which any client can set. */
function serveUsage(
  handle: (request: http.UsageRequest<ExpressArgs>) => Promise<http.HttpResult>,
): RequestHandler {
  return (req, res, next) => {
    // Looking at usage is never billed.
    http.skipMeteringOf(carrier(res));
    handle({
      method: req.method,
      url: req.originalUrl,
      headers: req.headers,
      remoteAddress: req.socket.remoteAddress,
      args: [req, res],
    }).then((result) => send(res, result), next);
  };
}

/**
 * The seller's read-only usage page (every customer's usage by hour, states, `MeteringRecordId`s,
 * rejections, totals). Needs `authorize` (or `localOnly: true` for development): it throws
 * `INVALID_CONFIG` otherwise. Refusals: 401 (authorize said no), 403 (localOnly, remote peer).
 *
 * @example
 * app.get("/admin/usage", usagePageHandler(marketplace, { authorize: (req) => req.get("x-admin-token") === token }))
 */
export function usagePageHandler(marketplace: http.UsageTarget, options: UsagePageOptions): RequestHandler {
  return serveUsage(http.createUsagePage<ExpressArgs>(marketplace, options));
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
): RequestHandler {
  return serveUsage(http.createBuyerUsage<ExpressArgs>(marketplace, options));
}

/** Error-handling middleware (four parameters) in a router stack, its sub-routers and routes. */
function stackHandlesErrors(stack: unknown, depth = 0): boolean {
  if (!Array.isArray(stack) || depth > 8) return false;
  for (const layer of stack as Array<{
    handle?: { length?: number; stack?: unknown };
    route?: { stack?: unknown };
  }>) {
    if (layer.handle?.length === 4) return true;
    if (stackHandlesErrors(layer.handle?.stack, depth + 1)) return true;
    if (stackHandlesErrors(layer.route?.stack, depth + 1)) return true;
  }
  return false;
}

/** True when the app (or an app it is mounted in) has an error handler of its own. */
function appHandlesErrors(app: unknown): boolean {
  for (let a = app as Record<string, unknown> | undefined, i = 0; a && i < 8; a = a.parent as never, i++) {
    // Express 4 keeps its router on `_router`, Express 5 on `router`.
    const router = (a._router ?? a.router) as { stack?: unknown } | undefined;
    if (stackHandlesErrors(router?.stack)) return true;
  }
  return false;
}

/**
 * Lets only customers with a usable subscription through; others are refused with 402/403, and 503
 * when the check itself fails (unless `failOpen: true`). A refusal goes to `next(err)` (a
 * `MarketplaceError` with `status` and the `problem`) when the app has an error handler of its own;
 * otherwise the problem JSON is written as is.
 *
 * @example
 * app.use("/api", requireSubscription(marketplace, { getCustomer: (req) => req.user?.tenantId }))
 */
export function requireSubscription(
  marketplace: http.AccessTarget,
  options: RequireSubscriptionOptions = {},
): RequestHandler {
  const guard = http.createGuard<ExpressArgs>(marketplace, options);
  return (req, res, next) => {
    guard([req, res], req.originalUrl).then((result) => {
      if (result.allowed) {
        provide(res, marketplace);
        if (result.decision) http.meterStateOf(carrier(res)).subscription = result.decision;
        next();
      } else if (appHandlesErrors(req.app)) next(http.problemError(result.problem, result.headers));
      else send(res, http.problemResponse(result.problem, result.headers));
    }, next);
  };
}
