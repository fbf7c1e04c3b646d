/**
 * What an app declares once, on the adapter's `createMarketplace`, for every middleware and route of that
 * marketplace: who a request belongs to, where logs go, and how large a body may be.
 */
import { MarketplaceError } from "../errors/index.js";
import type { Logger } from "../runtime/index.js";
import type { Awaitable } from "./metering.js";
import type { CustomerRef } from "./types.js";

/** Settings the HTTP layer reads from a marketplace instance (all optional). */
export interface HttpSettings {
  /** The default customer resolver of every metering middleware and access guard. */
  getCustomer?: ((...args: never[]) => Awaitable<CustomerRef>) | undefined;
  /** The marketplace's clock (epoch ms), so the usage views agree with the hours metering uses. */
  clock?: (() => number) | undefined;
  /**
   * Every request belongs to one customer (a container, AMI or AgentCore deployment): a `getCustomer`
   * declared later (by an adapter or a module) is ignored.
   */
  fixedCustomer?: boolean | undefined;
  /** The marketplace's logger, the default of every handler. */
  logger?: Logger | undefined;
  /** The body limits of the buyer lifecycle (`buyers.*.maxBodyBytes`), also applied when routes read. */
  buyers?:
    | {
        registration?: { maxBodyBytes?: number | undefined } | undefined;
        sns?: { maxBodyBytes?: number | undefined } | undefined;
        eventBridge?: { maxBodyBytes?: number | undefined } | undefined;
      }
    | undefined;
}

// Shared through Symbol.for so two copies of the package see what either adapter declared.
const registry = ((globalThis as Record<symbol, unknown>)[Symbol.for("marketmeter.http.settings")] ??=
  new WeakMap<object, HttpSettings>()) as WeakMap<object, HttpSettings>;

const NONE: HttpSettings = Object.freeze({});

/**
 * Attaches settings to a marketplace instance and returns the instance: the core's `createMarketplace`
 * declares its logger and body limits, an adapter's adds `getCustomer`. Settings left undefined keep
 * what was declared before. Throws `INVALID_CONFIG` when `getCustomer` is not a function.
 *
 * @example
 * return declareHttpSettings(createMarketplace(rest), { getCustomer, logger: rest.logger, buyers: rest.buyers })
 */
export function declareHttpSettings<M extends object>(marketplace: M, settings: HttpSettings): M {
  if (settings.getCustomer !== undefined && typeof settings.getCustomer !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "getCustomer must be a function (request) => identity | { tenantId } | tenant id | undefined",
    );
  const merged: HttpSettings = { ...registry.get(marketplace) };
  for (const [key, value] of Object.entries(settings)) {
    if (key === "getCustomer" && merged.fixedCustomer) continue;
    if (value !== undefined) (merged as Record<string, unknown>)[key] = value;
  }
  registry.set(marketplace, merged);
  return marketplace;
}

/** The settings declared for a marketplace (empty when it was created without an adapter). */
export function httpSettingsOf(marketplace: unknown): HttpSettings {
  return (typeof marketplace === "object" && marketplace !== null && registry.get(marketplace)) || NONE;
}

/**
 * The customer resolver of a handler: its own, else the one declared on the marketplace; a deployment's
 * (every request is its buyer) always wins.
 */
export function customerResolver<G>(own: G | undefined, settings: HttpSettings): G | undefined {
  if (settings.fixedCustomer && settings.getCustomer) return settings.getCustomer as G;
  return own ?? (settings.getCustomer as G | undefined);
}
