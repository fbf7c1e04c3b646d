/**
 * One error family for the whole library. Every error thrown by marketmeter is a
 * `MarketplaceError` with a stable string `code`; use {@link isMarketplaceError} rather than
 * `instanceof` so the check survives two copies of the package in one process.
 */

const BRAND = Symbol.for("marketmeter.MarketplaceError");

/** Every error code marketmeter throws or reports. */
export type MarketplaceErrorCode =
  // configuration (thrown at construction)
  | "INVALID_CONFIG"
  // input validation (thrown synchronously by public entry points)
  | "INVALID_IDENTITY"
  | "INVALID_DIMENSION"
  | "INVALID_QUANTITY"
  | "INVALID_TIMESTAMP"
  | "INVALID_ALLOCATIONS"
  | "INVALID_ARGUMENT"
  | "UNKNOWN_PRODUCT"
  // lifecycle of the instance
  | "CLOSED"
  | "GRAIN_LOCKED"
  // store
  | "STORE_ERROR"
  // AWS-side outcomes
  | "AWS_UNAVAILABLE"
  | "AWS_THROTTLED"
  | "AWS_REJECTED"
  | "CUSTOMER_NOT_SUBSCRIBED"
  | "DUPLICATE_RECORD"
  | "WINDOW_EXPIRED"
  // registration and lifecycle
  | "INVALID_TOKEN"
  | "EXPIRED_TOKEN"
  | "FOREIGN_PRODUCT"
  | "REGISTRATION_NOT_FOUND"
  | "REGISTRATION_EXPIRED"
  | "REGISTRATION_ALREADY_LINKED"
  | "INVALID_NOTIFICATION"
  | "UNAUTHORIZED"
  | "ACCESS_DENIED"
  | "INVALID_REQUEST"
  | "IDENTITY_ALREADY_LINKED"
  // container, AMI and AgentCore deployments (start-up)
  | "NOT_ENTITLED"
  | "PLATFORM_NOT_SUPPORTED"
  | "WRONG_REGION"
  | "INVALID_KEY_VERSION"
  | "API_DISABLED"
  | "INVALID_SIGNATURE";

export interface MarketplaceErrorOptions {
  cause?: unknown;
  /** Extra machine-readable context (never secrets or tokens). */
  details?: Record<string, unknown>;
}

/**
 * The error class of marketmeter.
 *
 * @example
 * try { marketplace.record({ identity, dimension: "api_calls", quantity: -1 }) }
 * catch (err) { if (isMarketplaceError(err) && err.code === "INVALID_QUANTITY") … }
 */
export class MarketplaceError extends Error {
  readonly code: MarketplaceErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: MarketplaceErrorCode, message: string, options: MarketplaceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MarketplaceError";
    this.code = code;
    this.details = options.details;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return isMarketplaceError(value);
  }
}

/**
 * Brand check that works across duplicate copies of the package.
 *
 * @example
 * if (isMarketplaceError(err, "INVALID_TOKEN")) res.status(400)
 */
export function isMarketplaceError(value: unknown, code?: MarketplaceErrorCode): value is MarketplaceError {
  if (typeof value !== "object" || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as MarketplaceError).code === code;
}
