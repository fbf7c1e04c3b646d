/**
 * The access guard every adapter shares: resolve the customer, ask the directory, and either let the
 * request through or answer 402/403/503 with a problem body. Fails closed unless told otherwise.
 */
import type { AccessAllowed, AccessDecision } from "../access/index.js";
import { MarketplaceError } from "../errors/index.js";
import type { AccessSubject } from "../lifecycle/index.js";
import type { Logger } from "../runtime/index.js";
import { subjectOf } from "./customer.js";
import type { Awaitable } from "./metering.js";
import { type Problem, problem } from "./problem.js";
import { customerResolver, httpSettingsOf } from "./settings.js";
import type { AccessTarget, CustomerRef } from "./types.js";

/** Options of the access guard, the same in every adapter. */
export interface RequireSubscriptionOptions<A extends unknown[]> {
  /**
   * Who is asking: a billing identity, `{ tenantId }`, a tenant id string, or undefined (denied, 403).
   * @default the `getCustomer` declared on the adapter's `createMarketplace`
   */
  getCustomer?: (...args: A) => Awaitable<CustomerRef>;
  /**
   * Let requests through when the check itself fails (getCustomer throws, the directory is still
   * loading). Real denials (cancelled, not registered) are always enforced.
   * @default false
   */
  failOpen?: boolean;
  /** Called when the check fails (before failing open or closed). */
  onError?: (error: unknown, ...args: A) => void;
  /** @default the marketplace's logger */
  logger?: Logger;
}

/** The buyers object (or a marketplace's `buyers`) can re-read the directory store for an unknown buyer. */
interface ReadThrough {
  checkAccess?(subject: AccessSubject): Promise<AccessDecision>;
}

/** Outcome of the guard for one request. */
export type GuardResult =
  | { allowed: true; decision: AccessAllowed | undefined }
  | { allowed: false; problem: Problem; headers: Record<string, string> };

/** The shared guard engine. */
export type Guard<A extends unknown[]> = (args: A, instance?: string) => Promise<GuardResult>;

const KIND: Readonly<Record<string, string>> = {
  "not-registered": "subscription-not-registered",
  pending: "subscription-pending",
  cancelled: "subscription-cancelled",
  "no-entitlement": "no-entitlement",
  "not-subscribed": "not-subscribed",
  failed: "subscription-failed",
  unavailable: "subscription-status-unavailable",
};

/**
 * Builds the access guard. Throws `INVALID_CONFIG` when the marketplace has no customer directory.
 *
 * @example
 * const guard = createGuard(marketplace, { getCustomer: (req) => req.user?.tenantId })
 * const result = await guard([req], req.path)
 */
export function createGuard<A extends unknown[]>(
  marketplace: AccessTarget,
  options: RequireSubscriptionOptions<A> = {},
): Guard<A> {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.access !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "requireSubscription needs a marketplace with buyer lifecycle (access()); create it with createMarketplace({ …, buyers })",
    );
  if (options === undefined) options = {};
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "requireSubscription options must be an object");
  const settings = httpSettingsOf(marketplace);
  const getCustomer = customerResolver(options.getCustomer, settings) as
    | RequireSubscriptionOptions<A>["getCustomer"]
    | undefined;
  if (typeof getCustomer !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "requireSubscription needs getCustomer: pass it here or once to createMarketplace({ getCustomer })",
    );
  if (options.failOpen !== undefined && typeof options.failOpen !== "boolean")
    throw new MarketplaceError("INVALID_CONFIG", "failOpen must be a boolean");
  if (options.onError !== undefined && typeof options.onError !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "onError must be a function");
  const { onError } = options;
  const logger = options.logger ?? settings.logger;
  const failOpen = options.failOpen === true;
  // A buyer this instance does not know yet may have signed up through another one: read through.
  const target = marketplace as AccessTarget & ReadThrough & { readonly buyers?: ReadThrough };
  const lifecycle = typeof target.checkAccess === "function" ? target : target.buyers;
  const checkAccess =
    typeof lifecycle?.checkAccess === "function" ? lifecycle.checkAccess.bind(lifecycle) : undefined;

  const failed = (error: unknown, args: A, instance: string | undefined): GuardResult => {
    logger?.warn(
      { error: error instanceof Error ? error.message : String(error), failOpen },
      "marketmeter: access check failed",
    );
    try {
      onError?.(error, ...args);
    } catch {
      // a throwing hook must not turn a clear 503 into an unhandled error
    }
    if (failOpen) return { allowed: true, decision: undefined };
    return {
      allowed: false,
      problem: problem(
        503,
        "subscription-check-failed",
        "Subscription status could not be checked; please retry.",
        instanceOf(instance),
      ),
      headers: { "retry-after": "5" },
    };
  };

  return async (args, instance) => {
    let customer: CustomerRef;
    try {
      customer = await getCustomer(...args);
      const subject = subjectOf(customer);
      if (subject === undefined)
        return {
          allowed: false,
          problem: problem(
            403,
            "no-customer",
            "This request is not associated with a customer account.",
            instanceOf(instance),
          ),
          headers: {},
        };
      let decision = marketplace.access(subject);
      if (
        !decision.allowed &&
        checkAccess &&
        (decision.reason === "not-registered" || decision.reason === "pending")
      )
        decision = await checkAccess(subject);
      if (decision.allowed) return { allowed: true, decision };
      if (decision.reason === "unavailable")
        return failed(
          new MarketplaceError("ACCESS_DENIED", decision.message, { details: { reason: decision.reason } }),
          args,
          instance,
        );
      return {
        allowed: false,
        problem: problem(decision.httpStatus, KIND[decision.reason] ?? decision.reason, decision.message, {
          reason: decision.reason,
          ...instanceOf(instance),
        }),
        headers: {},
      };
    } catch (err) {
      return failed(err, args, instance);
    }
  };
}

function instanceOf(instance: string | undefined): { instance?: string } {
  return instance === undefined ? {} : { instance };
}
