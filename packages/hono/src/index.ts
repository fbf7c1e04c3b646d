/**
 * `@marketmeter/hono`: AWS Marketplace metering, registration, lifecycle webhooks and access checks as
 * Hono middleware. A thin translation over the framework-free layer in `@marketmeter/core`.
 */
import type { AccessAllowed, Marketplace } from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import type { Context, MiddlewareHandler } from "hono";

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

/**
 * The variables marketmeter sets, for `new Hono<Env>()` or `createMiddleware<Env>()`:
 * `c.var.marketplace` (manual recording) and, after `requireSubscription`, `c.var.subscription`.
 *
 * @example
 * const app = new Hono<Env>()
 * app.get("/x", (c) => { c.var.marketplace.record(…); return c.text("ok") })
 */
export type Env<M = Marketplace> = {
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
export type RegistrationHandlerOptions = http.RegistrationHandlerOptions;
export type WebhookHandlerOptions = http.WebhookHandlerOptions;

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
export function meterUsage(
  marketplace: http.MeteringTarget,
  options: MeterUsageOptions,
): MiddlewareHandler<Env> {
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
): MiddlewareHandler<Env> {
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
export function skipMetering(): MiddlewareHandler<Env> {
  return async (c, next) => {
    http.skipMeteringOf(c);
    await next();
  };
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
): MiddlewareHandler<Env> {
  const o = http.resolveRegistrationOptions(marketplace, options);
  return async (c) => {
    try {
      const body = await bodyOf(c, o.maxBodyBytes);
      return respond(
        await http.handleRegistration(
          marketplace,
          { method: c.req.method, headers: c.req.raw.headers, url: c.req.url, body },
          o,
        ),
      );
    } catch (err) {
      return respond(http.registrationError(err, c.req.header("accept"), o));
    }
  };
}

function webhook(
  kind: http.WebhookKind,
  marketplace: http.LifecycleTarget,
  options?: WebhookHandlerOptions,
): MiddlewareHandler<Env> {
  const o = http.resolveWebhookOptions(marketplace, kind, options);
  return async (c) => {
    try {
      const body = await bodyOf(c, o.maxBodyBytes);
      return respond(
        await http.handleWebhook(
          marketplace,
          kind,
          { method: c.req.method, headers: c.req.raw.headers, url: c.req.url, body },
          o,
        ),
      );
    } catch (err) {
      return respond(http.webhookError(err, kind, o));
    }
  };
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
): MiddlewareHandler<Env> {
  return webhook("eventBridge", marketplace, options);
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
): MiddlewareHandler<Env> {
  return webhook("sns", marketplace, options);
}

/**
 * Lets only customers with a usable subscription through (decision on `c.var.subscription`); others get
 * 402/403 with a problem body. Fails closed (503) when the check itself fails, unless `failOpen: true`.
 *
 * @example
 * app.use("/api/*", requireSubscription(marketplace, { getCustomer: (c) => c.get("tenantId") }))
 */
export function requireSubscription(
  marketplace: http.AccessTarget,
  options: RequireSubscriptionOptions,
): MiddlewareHandler<Env> {
  const guard = http.createGuard<HonoArgs>(marketplace, options);
  return async (c, next) => {
    const result = await guard([c], c.req.path);
    if (!result.allowed) return respond(http.problemResponse(result.problem, result.headers));
    provide(c, marketplace);
    c.set("subscription", result.decision);
    await next();
  };
}
