/** Options of `MarketplaceModule`, the tokens they live under, and their resolution. */
import {
  type CustomerRef,
  createMarketplace,
  type Logger,
  type Marketplace,
  MarketplaceError,
  type MarketplaceOptions,
} from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { Logger as NestLogger } from "@nestjs/common";

/** Injection token of the options as the app gave them (`forRoot`'s argument or `forRootAsync`'s factory result). */
export const MARKETPLACE_OPTIONS = Symbol.for("marketmeter.nestjs.options");
/** Injection token of the resolved options (the marketplace instance, the metering engine, the routes' options). */
export const RESOLVED = Symbol.for("marketmeter.nestjs.resolved");
/** Handler/controller metadata written by `@Meter` and `@SkipMetering`. */
export const METER_METADATA = "marketmeter:meter";
/** Handler/controller metadata written by `@RequireSubscription`. */
export const SUBSCRIPTION_METADATA = "marketmeter:subscription";

/** How much one request uses: a constant, or computed from the request, the response and the handler's result. */
export type MeterQuantity<Req = unknown, Res = unknown> = http.QuantitySpec<
  [req: Req, res: Res, result: unknown]
>;

/** Paths of the routes the module mounts. A route left out is not mounted. */
export interface MarketplaceRoutes {
  /** The fulfillment URL: AWS Marketplace posts the buyer's registration token here. @example "/marketplace/register" */
  registration?: string;
  /** EventBridge API-destination webhook (checks the marketplace's shared secret). @example "/marketplace/events" */
  eventBridge?: string;
  /** SNS HTTP(S) subscription endpoint (legacy notifications). @example "/marketplace/sns" */
  sns?: string;
  /** The seller's read-only usage page (needs `usagePage` options: `authorize` or `localOnly`). @example "/admin/usage" */
  usagePage?: string;
  /** The calling customer's own usage (JSON; `?format=html` for the fragment), resolved with `getCustomer`. @example "/account/usage" */
  buyerUsage?: string;
}

/** What is fixed when the module is defined, next to `forRoot`'s options or `forRootAsync`'s `useFactory`. */
export interface MarketplaceModuleDefinition {
  /** Mount the registration and lifecycle routes at these paths. @default none mounted */
  routes?: MarketplaceRoutes;
  /** Register the module globally, so `MarketplaceService` is injectable in every module. @default false */
  isGlobal?: boolean;
}

/**
 * Options of `MarketplaceModule.forRoot` and of the factory of `forRootAsync`. `Req`/`Res` are the
 * platform's request and response (Express or Fastify), inferred from `getCustomer`; the callbacks are
 * methods so a factory's options may name the platform's request type.
 *
 * @example
 * MarketplaceModule.forRoot({
 *   marketplace: { products: [{ productCode: "pca1234567890abcdefghijkl" }], dimensions: ["api_calls"] },
 *   getCustomer: (req: Request & { user?: User }) => req.user && { tenantId: req.user.tenantId },
 *   registration: { signUpUrl: "https://app.example.com/signup" },
 *   routes: { registration: "/marketplace/register", eventBridge: "/marketplace/events" },
 * })
 */
export interface MarketplaceModuleOptions<Req = unknown, Res = unknown> {
  /** A marketplace instance from `createMarketplace`, or the options to create one (their `logger` defaults to Nest's). */
  marketplace: Marketplace | MarketplaceOptions;
  /**
   * Who the request is for (required unless the instance given declares one): an identity, `{ tenantId }` or a tenant id string (looked up in the customer
   * directory), or `undefined` for requests nobody pays for. May return a promise. Metering calls it after
   * the response (so it sees what guards put on the request); `SubscriptionGuard` calls it before the handler.
   */
  getCustomer?(req: Req): http.Awaitable<CustomerRef>;
  /** Dimension metered by routes without `@Meter`. @default the first of `marketplace.dimensions` (required with an instance) */
  dimension?: string;
  /** Meter every route (one unit per response that `shouldMeter` accepts); false meters only `@Meter` routes. @default true */
  meterAll?: boolean;
  /** Whether a finished response is billed. @default status code below 400 */
  shouldMeter?(req: Req, res: Res, result: unknown): boolean;
  /** Let requests through `SubscriptionGuard` when the check itself fails; known cancelled or unregistered buyers are always refused. @default false */
  failOpen?: boolean;
  /** The fulfillment URL's behaviour. `signUpUrl` is required when `routes.registration` is mounted. */
  registration?: http.RouteOptions<"registration">;
  /** The lifecycle webhooks' behaviour (body limits are the marketplace's `buyers.*.maxBodyBytes`). */
  webhooks?: http.RouteOptions<"sns">;
  /**
   * The seller's usage page: `authorize(req)` says who may see it, or `localOnly: true` for development.
   * Required when `routes.usagePage` is mounted.
   */
  usagePage?: {
    authorize?(req: Req): http.Awaitable<boolean>;
    localOnly?: boolean;
    title?: string;
  };
  /** Flush and close the marketplace when the application shuts down (`app.close()`, `enableShutdownHooks`). @default true */
  closeOnShutdown?: boolean;
  /** Called when metering a request or checking its access failed; it never reaches the response. */
  onError?(error: unknown, req: Req): void;
}

/** The request and response as the module's parts see them: only the handlers' own code knows the platform. */
export type Args = [req: object, res: { statusCode: number }, result: unknown];

export interface Resolved {
  marketplace: Marketplace;
  meter: http.Meter<Args>;
  meterAll: boolean;
  shouldMeter: boolean;
  guard(failOpen: boolean | undefined): http.Guard<[object]>;
  /** The mounted routes, built by the core's route helper. */
  routes: Partial<Record<http.RouteKind, http.Route>>;
  /** The mounted usage views. */
  usage: { page?: http.UsagePage<[object]>; buyer?: http.BuyerUsageRoute<[object]> };
  closeOnShutdown: boolean;
}

const KNOWN = new Set(
  "marketplace getCustomer dimension meterAll shouldMeter failOpen registration webhooks usagePage closeOnShutdown onError".split(
    " ",
  ),
);

export function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", `MarketplaceModule: ${message}`);
}

/** Nest's logger behind the pino-style interface the core logs through. */
function nestLogger(): Logger {
  const l = new NestLogger("Marketplace");
  const line = (obj: unknown, msg?: string) => (msg ? `${msg} ${JSON.stringify(obj)}` : JSON.stringify(obj));
  return {
    debug: (obj: unknown, msg?: string) => l.debug(line(obj, msg)),
    info: (obj: unknown, msg?: string) => l.log(line(obj, msg)),
    warn: (obj: unknown, msg?: string) => l.warn(line(obj, msg)),
    error: (obj: unknown, msg?: string) => l.error(line(obj, msg)),
  };
}

/** The instance given, or one created from options with Nest's logger unless the options name one. */
function marketplaceOf(m: unknown, getCustomer: unknown): Marketplace {
  if (typeof m !== "object" || m === null)
    invalid("marketplace must be a marketplace instance (createMarketplace) or its options");
  if (typeof (m as { record?: unknown }).record === "function") return m as Marketplace;
  const options = m as MarketplaceOptions;
  const logger = options.logger ?? nestLogger();
  // Declared once on the instance: every handler takes the marketplace's logger, customer resolver and body limits.
  return http.declareHttpSettings(createMarketplace({ ...options, logger }), {
    getCustomer: getCustomer as http.HttpSettings["getCustomer"],
    logger,
    buyers: options.buyers,
  });
}

/**
 * Creates the marketplace (when given options) and the engines the module's parts share. What the core
 * validates (getCustomer, dimension, shouldMeter, onError, failOpen, registration, webhooks) it validates.
 */
export function resolveOptions(input: unknown, routes: MarketplaceRoutes): Resolved {
  if (typeof input !== "object" || input === null) invalid("needs an options object");
  for (const k of Object.keys(input))
    if (!KNOWN.has(k))
      invalid(
        k === "routes" || k === "isGlobal"
          ? `"${k}" goes next to useFactory in forRootAsync: routes and globality are fixed when the module is defined`
          : `unknown option "${k}"`,
      );
  const o = input as MarketplaceModuleOptions<object, { statusCode: number }>;
  for (const k of ["meterAll", "closeOnShutdown"] as const)
    if (o[k] !== undefined && typeof o[k] !== "boolean") invalid(`${k} must be a boolean`);
  const marketplace = marketplaceOf(o.marketplace, o.getCustomer);
  const fromOptions = marketplace !== o.marketplace;
  const dimension =
    o.dimension ?? (fromOptions ? (o.marketplace as MarketplaceOptions).dimensions?.[0] : undefined);
  const { getCustomer, onError, registration, webhooks } = o;
  const meter = http.createMeter<Args>(marketplace, {
    getCustomer,
    dimension: dimension as string,
    ...(o.shouldMeter ? { shouldMeter: o.shouldMeter } : {}),
    ...(onError ? { onError: (error: unknown, req: object) => onError(error, req) } : {}),
  });
  // Both guards are built now, so a bad failOpen fails at startup; routes choose with @RequireSubscription.
  const makeGuard = (failOpen: boolean | undefined) =>
    http.createGuard<[object]>(marketplace, {
      getCustomer,
      ...(failOpen !== undefined ? { failOpen } : {}),
      ...(onError ? { onError } : {}),
    });
  const byDefault = makeGuard(o.failOpen);
  const other = makeGuard(o.failOpen !== true);
  if (routes.registration === undefined && registration !== undefined)
    invalid("registration options are set but routes.registration is not mounted");
  if (routes.registration !== undefined && registration === undefined)
    invalid(
      'routes.registration needs registration: { signUpUrl: "/signup" } (where the buyer is sent next)',
    );
  if (routes.eventBridge === undefined && routes.sns === undefined && webhooks !== undefined)
    invalid("webhooks options are set but no webhook route is mounted");
  const mounted: Resolved["routes"] = {};
  if (registration) mounted.registration = http.createRoute("registration", marketplace, registration);
  for (const kind of ["eventBridge", "sns"] as const)
    if (routes[kind] !== undefined) mounted[kind] = http.createRoute(kind, marketplace, webhooks);
  if (routes.usagePage === undefined && o.usagePage !== undefined)
    invalid("usagePage options are set but routes.usagePage is not mounted");
  if (routes.usagePage !== undefined && o.usagePage === undefined)
    invalid(
      "routes.usagePage needs usagePage: { authorize: (req) => boolean } (or { localOnly: true } in development)",
    );
  const usage: Resolved["usage"] = {};
  if (o.usagePage)
    usage.page = http.createUsagePage<[object]>(marketplace, o.usagePage as http.UsagePageOptions<[object]>);
  if (routes.buyerUsage !== undefined)
    usage.buyer = http.createBuyerUsage<[object]>(marketplace, getCustomer ? { getCustomer } : {});
  return {
    marketplace,
    meter,
    usage,
    meterAll: o.meterAll !== false,
    shouldMeter: o.shouldMeter !== undefined,
    guard: (failOpen) => (failOpen === undefined || failOpen === (o.failOpen === true) ? byDefault : other),
    routes: mounted,
    closeOnShutdown: o.closeOnShutdown !== false,
  };
}

/** Validates `routes`: absolute paths, none mounted twice. */
export function validateRoutes(routes: unknown): MarketplaceRoutes {
  if (routes === undefined) return {};
  if (typeof routes !== "object" || routes === null)
    invalid("routes must be { registration?, eventBridge?, sns?, usagePage?, buyerUsage? }");
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(routes)) {
    if (!["registration", "eventBridge", "sns", "usagePage", "buyerUsage"].includes(k))
      invalid(`routes.${k} is not a known route`);
    if (v === undefined) continue;
    if (typeof v !== "string" || !/^\/[A-Za-z0-9\-._~/]*$/.test(v))
      invalid(`routes.${k} must be a path like "/marketplace/${k}"`);
    if (seen.has(v)) invalid(`routes.${k}: ${v} is used twice`);
    seen.add(v);
  }
  return routes as MarketplaceRoutes;
}
