/**
 * The metering decision every adapter shares: which requests count, how much, on which dimension, and
 * for whom. Adapters call `begin` when a request enters and `finish` once its response is final.
 * Nothing here may fail, delay or change a response: every error goes to the logger and `onError`.
 */
import type { AccessAllowed } from "../access/index.js";
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import type { IdentityInput } from "../identity/index.js";
import type { Logger } from "../runtime/index.js";
import { isTenant, subjectOf } from "./customer.js";
import { customerResolver, httpSettingsOf } from "./settings.js";
import type { CustomerRef, MeteringTarget } from "./types.js";

/** A value, or a promise of it. */
export type Awaitable<T> = T | PromiseLike<T>;

/** A fixed quantity, or one computed from the finished request (bytes sent, rows returned, tokens generated). */
export type QuantitySpec<A extends unknown[]> = number | ((...args: A) => Awaitable<number>);

/** A route's metering override. */
export interface MeterSpec<A extends unknown[]> {
  /** Dimension for this route. @default the middleware's `dimension` */
  dimension?: string;
  /** Quantity for this route. @default the middleware's `quantity` (1) */
  quantity?: QuantitySpec<A>;
}

/**
 * Options of the metering middleware, the same in every adapter. `A` is the framework's handler
 * arguments: `[req, res]` (Express), `[ctx]` (Koa), `[c]` (Hono).
 */
export interface MeterUsageOptions<A extends unknown[]> {
  /**
   * Who pays for this request: a billing identity, `{ tenantId }` (resolved through the customer
   * directory), a tenant id string, or undefined (not metered). Called when the response has finished,
   * so authentication that ran inside the route is visible. Return the same identity object for the
   * same customer to keep `record()` at its fastest.
   * @default the `getCustomer` declared on the adapter's `createMarketplace`
   */
  getCustomer?: (...args: A) => Awaitable<CustomerRef>;
  /** The dimension metered by default (exactly as defined in AWS Marketplace). */
  dimension: string;
  /** Units per metered request. @default 1 */
  quantity?: QuantitySpec<A>;
  /** Whether a finished request is billed. @default status < 400 */
  shouldMeter?: (...args: A) => boolean;
  /** Called with every metering failure (after logging); never affects the response. */
  onError?: (error: unknown, ...args: A) => void;
  /**
   * A pino-compatible logger.
   * @default the marketplace's logger, else warnings and errors to the console
   */
  logger?: Logger;
}

/** Per-request metering state, shared by every marketmeter middleware that sees the request. */
export interface MeterState<A extends unknown[] = unknown[]> {
  /**
   * A metering middleware that claims requests as they enter (Hono) has claimed this one; another
   * mounting of it stands aside. Adapters that meter on the response's `finish` event use
   * {@link firstToFinish} instead.
   */
  owner: boolean;
  skip: boolean;
  dimension: string | undefined;
  quantity: QuantitySpec<A> | undefined;
  /** The marketplace a middleware made available to handlers (the adapters' accessors read it). */
  marketplace: unknown;
  /** The access decision a subscription guard made for this request. */
  subscription: AccessAllowed | undefined;
}

/** Where the state sits on the carrier (shared by every copy of the package through Symbol.for). */
export const METER_STATE: unique symbol = Symbol.for("marketmeter.http.meterState") as never;

/**
 * The metering state of a request (created on first use). `carrier` is a per-request object the
 * adapter chooses, and it should be one the framework made for the app (Koa's `ctx.state`, Hono's
 * Context, Express's `res.locals`): a property added to Node's request or response, or to the Request
 * that Hono's Node adapter builds lazily, makes the runtime's own code on that object slower and costs
 * microseconds per request.
 */
export function meterStateOf<A extends unknown[]>(carrier: object): MeterState<A> {
  const c = carrier as { [METER_STATE]?: MeterState<A> };
  let s = c[METER_STATE];
  if (s === undefined) {
    s = {
      owner: false,
      skip: false,
      dimension: undefined,
      quantity: undefined,
      marketplace: undefined,
      subscription: undefined,
    };
    c[METER_STATE] = s;
  }
  return s;
}

/** The metering state of a request if any middleware created one (never creates it). */
export function findMeterState<A extends unknown[]>(carrier: object): MeterState<A> | undefined {
  return (carrier as { [METER_STATE]?: MeterState<A> })[METER_STATE];
}

/**
 * The state of a request that no route override, skip or guard touched: read-only and shared, so an
 * adapter that looks its state up when the response finishes allocates nothing for plain requests.
 */
export const DEFAULT_METER_STATE: MeterState<unknown[]> = Object.freeze({
  owner: true,
  skip: false,
  dimension: undefined,
  quantity: undefined,
  marketplace: undefined,
  subscription: undefined,
});

/**
 * The response whose finish was metered last, shared by every copy of the package (Symbol.for), so
 * that when two metering middlewares hooked the same response only the first listener (the one mounted
 * first) records it.
 */
const finished: { last: object | undefined } = ((globalThis as Record<symbol, unknown>)[
  Symbol.for("marketmeter.http.finished")
] ??= { last: undefined }) as { last: object | undefined };

/**
 * For adapters that meter from the response's `finish` event: true for the first marketmeter listener
 * that sees this response finish, false for any later one (mounted twice records once). A response
 * emits `finish` once and runs its listeners one after another, so comparing with the response seen
 * last is enough, and the request path writes no per-request marker at all. The reference is to the
 * last finished response only, replaced when the next one finishes.
 */
export function firstToFinish(response: object): boolean {
  if (finished.last === response) return false;
  finished.last = response;
  return true;
}

const consoleLogger: Logger = {
  debug() {},
  info() {},
  warn: (obj, msg) => console.warn(msg ?? "marketmeter", obj),
  error: (obj, msg) => console.error(msg ?? "marketmeter", obj),
};

function checkQuantity(q: unknown, name: string): void {
  if (q === undefined || typeof q === "function") return;
  if (typeof q !== "number" || !Number.isSafeInteger(q) || q < 0)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      `${name} must be a non-negative safe integer or a function returning one`,
    );
}

function checkDimension(d: unknown, name: string): void {
  if (typeof d !== "string" || d.length < 1 || d.length > 255)
    throw new MarketplaceError("INVALID_CONFIG", `${name} must be a dimension name (1-255 characters)`);
}

/**
 * Validates a route override (`meter(dimension, quantity)`).
 *
 * @example
 * parseMeterSpec("tokens", (req, res) => res.locals.tokens)
 */
export function parseMeterSpec<A extends unknown[]>(
  dimensionOrSpec: string | MeterSpec<A>,
  quantity?: QuantitySpec<A>,
): MeterSpec<A> {
  const spec: MeterSpec<A> =
    typeof dimensionOrSpec === "string"
      ? { dimension: dimensionOrSpec, ...(quantity !== undefined ? { quantity } : {}) }
      : dimensionOrSpec;
  if (typeof spec !== "object" || spec === null)
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "meter() takes (dimension, quantity?) or { dimension?, quantity? }",
    );
  if (spec.dimension !== undefined) checkDimension(spec.dimension, "meter() dimension");
  checkQuantity(spec.quantity, "meter() quantity");
  if (spec.dimension === undefined && spec.quantity === undefined)
    throw new MarketplaceError("INVALID_CONFIG", "meter() needs a dimension, a quantity or both");
  return spec;
}

/** Applies a route override to the request's metering state. */
export function applyMeterSpec<A extends unknown[]>(carrier: object, spec: MeterSpec<A>): void {
  const s = meterStateOf<A>(carrier);
  if (spec.dimension !== undefined) s.dimension = spec.dimension;
  if (spec.quantity !== undefined) s.quantity = spec.quantity;
}

/** Marks a request as not billed. */
export function skipMeteringOf(carrier: object): void {
  meterStateOf(carrier).skip = true;
}

/** The shared metering engine behind each adapter's middleware. */
export interface Meter<A extends unknown[]> {
  /**
   * Claims the request. Returns its state, or undefined when another mounting of the middleware already
   * meters it (mounted twice records once).
   */
  begin(carrier: object): MeterState<A> | undefined;
  /**
   * Decides and records, given the final status. Synchronous when `getCustomer` and the quantity are;
   * otherwise returns a promise (for `waitUntil`) that never rejects.
   */
  finish(state: MeterState<A>, status: number, args: A): void | Promise<void>;
  /**
   * `finish` for a request that no override, skip or guard touched (no state), with the handler
   * arguments passed one by one (`b` only where the framework has two), so the common case allocates
   * nothing.
   */
  finishDefault(status: number, a: A[0], b?: A[1]): void | Promise<void>;
}

/**
 * `fn(...args)` without a spread call on the request path: every adapter passes one or two arguments,
 * and a direct call is cheaper than spreading an array.
 */
function call<A extends unknown[], R>(fn: (...args: A) => R, args: A): R {
  if (args.length === 1) return (fn as unknown as (a: unknown) => R)(args[0]);
  if (args.length === 2) return (fn as unknown as (a: unknown, b: unknown) => R)(args[0], args[1]);
  return fn(...args);
}

const isThenable = (v: unknown): v is PromiseLike<unknown> =>
  typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";

/** A billing identity object as it is (not a promise, not a tenant): recorded without more ado. */
const isIdentityObject = (v: unknown): v is IdentityInput =>
  typeof v === "object" &&
  v !== null &&
  typeof (v as { then?: unknown }).then !== "function" &&
  typeof (v as { tenantId?: unknown }).tenantId !== "string";

/** A handler-arguments function called with them one by one. */
type Two<R> = (a: unknown, b: unknown) => R;

/** The handler arguments as the tuple the slow paths and `onError` take. */
function argsOf<A extends unknown[]>(a: A[0], b: A[1] | undefined): A {
  return (b === undefined ? [a] : [a, b]) as A;
}

/**
 * Builds the metering engine. Validates options at once (coded `INVALID_CONFIG`).
 *
 * @example
 * const meter = createMeter(marketplace, { getCustomer: (req) => req.user?.tenantId, dimension: "api_calls" })
 * const state = meter.begin(req)
 * if (state) res.on("finish", () => meter.finish(state, res.statusCode, [req, res]))
 */
export function createMeter<A extends unknown[]>(
  marketplace: MeteringTarget,
  options: MeterUsageOptions<A>,
): Meter<A> {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.record !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "pass the marketplace instance from createMarketplace() as the first argument",
    );
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "metering needs options { getCustomer, dimension }");
  const settings = httpSettingsOf(marketplace);
  const getCustomer = customerResolver(options.getCustomer, settings) as MeterUsageOptions<A>["getCustomer"];
  if (typeof getCustomer !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "getCustomer must be a function (request) => identity | { tenantId } | undefined: pass it here or once to createMarketplace({ getCustomer })",
    );
  checkDimension(options.dimension, "dimension");
  checkQuantity(options.quantity, "quantity");
  if (options.shouldMeter !== undefined && typeof options.shouldMeter !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "shouldMeter must be a function returning a boolean");
  if (options.onError !== undefined && typeof options.onError !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "onError must be a function");
  const logger = options.logger ?? settings.logger ?? consoleLogger;
  const { shouldMeter, onError } = options;
  const defaultDimension = options.dimension;
  const defaultQuantity = options.quantity ?? 1;

  const fail = (error: unknown, args: A) => {
    const code = isMarketplaceError(error) ? error.code : undefined;
    logger.error(
      { code, error: error instanceof Error ? error.message : String(error) },
      "marketmeter: request not metered",
    );
    if (onError) {
      try {
        onError(error, ...args);
      } catch (err) {
        logger.error({ error: String(err) }, "marketmeter: onError threw");
      }
    }
  };

  const recordFor = (customer: CustomerRef, dimension: string, quantity: number, args: A): void => {
    if (quantity === 0) return;
    const subject = subjectOf(customer);
    if (subject === undefined) return;
    if (isTenant(subject)) {
      if (typeof marketplace.access !== "function")
        throw new MarketplaceError(
          "INVALID_CONFIG",
          "getCustomer returned a tenant, but this marketplace has no customer directory; return a billing identity instead",
        );
      const decision = marketplace.access(subject);
      if (!decision.allowed) {
        fail(
          new MarketplaceError(
            "ACCESS_DENIED",
            `tenant ${JSON.stringify(subject.tenantId)} has no usable AWS Marketplace subscription`,
            {
              details: { reason: decision.reason },
            },
          ),
          args,
        );
        return;
      }
      marketplace.record({ identity: decision.identity, dimension, quantity });
      return;
    }
    marketplace.record({ identity: subject, dimension, quantity });
  };

  const slow = async (state: MeterState<A>, dimension: string, customer: unknown, args: A): Promise<void> => {
    try {
      const spec = state.quantity ?? defaultQuantity;
      // Both settle before anything is decided, so a rejection of either is always handled.
      const [who, quantity] = await Promise.all([
        customer,
        typeof spec === "function" ? Promise.resolve(args).then((a) => spec(...a)) : spec,
      ]);
      if (!Number.isSafeInteger(quantity) || (quantity as number) < 0)
        throw new MarketplaceError(
          "INVALID_QUANTITY",
          `the quantity function returned ${String(quantity)}, not a non-negative integer`,
        );
      recordFor(who as CustomerRef, dimension, quantity as number, args);
    } catch (err) {
      fail(err, args);
    }
  };

  /** Everything but the common case, kept apart so the common case's machine code stays small. */
  const finishSlow = (state: MeterState<A>, customer: unknown, args: A): void | Promise<void> => {
    const dimension = state.dimension ?? defaultDimension;
    const spec = state.quantity ?? defaultQuantity;
    if (typeof spec === "number" && !isThenable(customer)) {
      recordFor(customer as CustomerRef, dimension, spec, args);
      return;
    }
    return slow(state, dimension, customer, args);
  };

  return {
    begin(carrier) {
      const state = meterStateOf<A>(carrier);
      if (state.owner) return undefined;
      state.owner = true;
      return state;
    },
    finish(state, status, args) {
      if (state.skip) return;
      try {
        if (!(shouldMeter ? call(shouldMeter, args) : status < 400)) return;
        const customer = call(getCustomer, args);
        const quantity = state.quantity ?? defaultQuantity;
        // The common case (a billing identity object from a sync getCustomer, a fixed quantity): one
        // record() call and nothing else.
        if (typeof quantity === "number" && quantity !== 0 && isIdentityObject(customer)) {
          marketplace.record({
            identity: customer,
            dimension: state.dimension ?? defaultDimension,
            quantity,
          });
          return;
        }
        return finishSlow(state, customer, args);
      } catch (err) {
        fail(err, args);
      }
    },
    finishDefault(status, a, b) {
      try {
        if (!(shouldMeter ? (shouldMeter as unknown as Two<boolean>)(a, b) : status < 400)) return;
        const customer = (getCustomer as unknown as Two<unknown>)(a, b);
        if (typeof defaultQuantity === "number" && defaultQuantity !== 0 && isIdentityObject(customer)) {
          marketplace.record({ identity: customer, dimension: defaultDimension, quantity: defaultQuantity });
          return;
        }
        return finishSlow(DEFAULT_METER_STATE as MeterState<A>, customer, argsOf(a, b));
      } catch (err) {
        fail(err, argsOf(a, b));
      }
    },
  };
}
