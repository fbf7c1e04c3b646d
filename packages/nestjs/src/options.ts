/** Options of `MarketplaceModule`, their defaults and their validation. */
import {
  type CustomerRef,
  type Logger,
  type Marketplace,
  MarketplaceError,
  type MarketplaceOptions,
  createMarketplace,
} from "@marketmeter/core";
import * as http from "@marketmeter/core/http";
import { Logger as NestLogger } from "@nestjs/common";

/** A marketplace instance, as `createMarketplace` returns it. */
export type MarketplaceInstance = Marketplace;

/** How much one request uses: a constant, or computed from the request, the response and the handler's result. */
export type MeterQuantity<Req = any, Res = any> = http.QuantitySpec<[req: Req, res: Res, result: unknown]>;

/** Paths of the routes the module mounts. A route left out is not mounted. */
export interface MarketplaceRoutes {
  /** The fulfillment URL: AWS Marketplace posts the buyer's registration token here. @example "/marketplace/register" */
  registration?: string;
  /** EventBridge API-destination webhook (checks the marketplace's shared secret). @example "/marketplace/events" */
  eventBridge?: string;
  /** SNS HTTP(S) subscription endpoint (legacy notifications). @example "/marketplace/sns" */
  sns?: string;
}

/**
 * Options of `MarketplaceModule.forRoot` and of the factory of `forRootAsync`.
 *
 * @example
 * MarketplaceModule.forRoot({
 *   marketplace: { products: [{ productCode: "pca1234567890abcdefghijkl" }], dimensions: ["api_calls"] },
 *   getCustomer: (req) => (req.user ? { tenantId: req.user.tenantId } : undefined),
 *   registration: { signUpUrl: "https://app.example.com/signup" },
 *   routes: { registration: "/marketplace/register", eventBridge: "/marketplace/events" },
 * })
 */
export interface MarketplaceModuleOptions<Req = any, Res = any> {
  /** A marketplace instance from `createMarketplace`, or the options to create one. */
  marketplace: MarketplaceInstance | MarketplaceOptions;
  /**
   * Who the request is for: an identity (`{ customerAWSAccountId, licenseArn }` or `{ customerIdentifier }`),
   * `{ tenantId }` or a tenant id string (looked up in the customer directory), or `undefined` for requests
   * nobody pays for. May return a promise. Metering calls it after the response (so it sees what guards
   * put on the request); `SubscriptionGuard` calls it before the handler.
   */
  getCustomer: (req: Req) => CustomerRef | PromiseLike<CustomerRef>;
  /** Dimension metered by routes without `@Meter`. @default the first of `marketplace.dimensions` (required with an instance) */
  dimension?: string;
  /** Meter every route (one unit per response that `shouldMeter` accepts); false meters only `@Meter` routes. @default true */
  meterAll?: boolean;
  /** Whether a finished response is billed. @default status code below 400 */
  shouldMeter?: (req: Req, res: Res, result: unknown) => boolean;
  /**
   * Let requests through `SubscriptionGuard` when the check itself fails (directory still loading,
   * `getCustomer` threw). Buyers known to be cancelled or unregistered are always refused.
   * @default false
   */
  failOpen?: boolean;
  /** The fulfillment URL's behaviour. `signUpUrl` is required when `routes.registration` is mounted. */
  registration?: Omit<http.RegistrationHandlerOptions, "logger">;
  /** The lifecycle webhooks' behaviour. @default { maxBodyBytes: 262144 } */
  webhooks?: Omit<http.WebhookHandlerOptions, "logger">;
  /** Flush and close the marketplace when the application shuts down (`app.close()`, `enableShutdownHooks`). @default true */
  closeOnShutdown?: boolean;
  /** Called when metering a request or checking its access failed; it never reaches the response. */
  onError?: (error: unknown, req: Req) => void;
  /** A pino-compatible logger. @default Nest's `Logger` with the context "Marketplace" */
  logger?: Logger;
}

export interface ResolvedModuleOptions {
  marketplace: MarketplaceInstance;
  getCustomer: (req: any) => CustomerRef | PromiseLike<CustomerRef>;
  dimension: string;
  meterAll: boolean;
  shouldMeter: ((req: any, res: any, result: unknown) => boolean) | undefined;
  failOpen: boolean;
  registration: http.ResolvedRegistrationOptions | undefined;
  webhooks: http.ResolvedWebhookOptions | undefined;
  closeOnShutdown: boolean;
  onError: ((error: unknown, req: any) => void) | undefined;
  logger: Logger;
}

const KNOWN = new Set([
  "marketplace",
  "getCustomer",
  "dimension",
  "meterAll",
  "shouldMeter",
  "failOpen",
  "registration",
  "webhooks",
  "closeOnShutdown",
  "onError",
  "logger",
]);

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", `MarketplaceModule: ${message}`);
}

/** Nest's logger behind the pino-style interface the core logs through. */
export function nestLogger(context = "Marketplace"): Logger {
  const l = new NestLogger(context);
  const line = (obj: unknown, msg?: string) => (msg ? `${msg} ${JSON.stringify(obj)}` : JSON.stringify(obj));
  return {
    debug: (obj, msg) => l.debug(line(obj, msg)),
    info: (obj, msg) => l.log(line(obj, msg)),
    warn: (obj, msg) => l.warn(line(obj, msg)),
    error: (obj, msg) => l.error(line(obj, msg)),
  } as Logger;
}

/** Validates the options and creates the marketplace when options were given. Throws `INVALID_CONFIG`. */
export function resolveModuleOptions(input: unknown, routes: MarketplaceRoutes = {}): ResolvedModuleOptions {
  if (typeof input !== "object" || input === null) invalid("needs an options object");
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o))
    if (!KNOWN.has(k))
      invalid(
        k === "routes" || k === "isGlobal"
          ? `"${k}" goes next to useFactory in forRootAsync: routes and globality are fixed when the module is defined`
          : `unknown option "${k}"`,
      );
  if (typeof o.getCustomer !== "function")
    invalid("getCustomer must be a function (req) => identity | { tenantId } | undefined");
  for (const k of ["shouldMeter", "onError"])
    if (o[k] !== undefined && typeof o[k] !== "function") invalid(`${k} must be a function`);
  for (const k of ["meterAll", "failOpen", "closeOnShutdown"])
    if (o[k] !== undefined && typeof o[k] !== "boolean") invalid(`${k} must be a boolean`);
  const logger = (o.logger as Logger | undefined) ?? nestLogger();
  if (
    typeof logger !== "object" ||
    logger === null ||
    !["debug", "info", "warn", "error"].every((m) => typeof (logger as never)[m] === "function")
  )
    invalid("logger must have debug, info, warn and error methods (pino-compatible)");

  const m = o.marketplace;
  if (typeof m !== "object" || m === null)
    invalid("marketplace must be a marketplace instance (createMarketplace) or its options");
  if (o.dimension !== undefined && (typeof o.dimension !== "string" || o.dimension === ""))
    invalid("dimension must be a non-empty string");
  let dimension = o.dimension as string | undefined;
  let marketplace: MarketplaceInstance;
  if (typeof (m as { record?: unknown }).record === "function") {
    marketplace = m as MarketplaceInstance;
    if (dimension === undefined)
      invalid("dimension is required when an existing marketplace instance is passed");
  } else {
    const dims = (m as MarketplaceOptions).dimensions;
    dimension ??= Array.isArray(dims) && typeof dims[0] === "string" ? dims[0] : undefined;
    marketplace = createMarketplace(m as MarketplaceOptions) as MarketplaceInstance;
  }
  if (routes.registration === undefined && o.registration !== undefined)
    invalid("registration options are set but routes.registration is not mounted");
  if (routes.registration !== undefined && o.registration === undefined)
    invalid(
      'routes.registration needs registration: { signUpUrl: "/signup" } (where the buyer is sent next)',
    );
  const webhooksMounted = routes.eventBridge !== undefined || routes.sns !== undefined;
  const registration =
    routes.registration !== undefined
      ? resolveRegistration(marketplace, o.registration as http.RegistrationHandlerOptions, logger)
      : undefined;
  let webhooks: http.ResolvedWebhookOptions | undefined;
  for (const kind of ["eventBridge", "sns"] as const)
    if (routes[kind] !== undefined)
      webhooks = http.resolveWebhookOptions(marketplace, kind, { ...(o.webhooks as object), logger });
  if (!webhooksMounted && o.webhooks !== undefined)
    invalid("webhooks options are set but no webhook route is mounted");

  return {
    marketplace,
    getCustomer: o.getCustomer as ResolvedModuleOptions["getCustomer"],
    dimension: dimension as string,
    meterAll: o.meterAll !== false,
    shouldMeter: o.shouldMeter as ResolvedModuleOptions["shouldMeter"],
    failOpen: o.failOpen === true,
    registration,
    webhooks,
    closeOnShutdown: o.closeOnShutdown !== false,
    onError: o.onError as ResolvedModuleOptions["onError"],
    logger,
  };
}

function resolveRegistration(
  marketplace: MarketplaceInstance,
  options: http.RegistrationHandlerOptions,
  logger: Logger,
) {
  if (typeof options !== "object" || options === null) invalid("registration must be { signUpUrl, … }");
  return http.resolveRegistrationOptions(marketplace, { ...options, logger });
}

/** Validates `routes`: absolute paths, none mounted twice. */
export function validateRoutes(routes: unknown): MarketplaceRoutes {
  if (routes === undefined) return {};
  if (typeof routes !== "object" || routes === null)
    invalid("routes must be { registration?, eventBridge?, sns? }");
  const seen = new Set<string>();
  for (const [k, v] of Object.entries(routes)) {
    if (!["registration", "eventBridge", "sns"].includes(k)) invalid(`routes.${k} is not a known route`);
    if (v === undefined) continue;
    if (typeof v !== "string" || !/^\/[A-Za-z0-9\-._~/]*$/.test(v))
      invalid(`routes.${k} must be a path like "/marketplace/${k}"`);
    if (seen.has(v)) invalid(`routes.${k}: ${v} is used twice`);
    seen.add(v);
  }
  return routes as MarketplaceRoutes;
}
