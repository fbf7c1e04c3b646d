import { isMarketplaceError, MarketplaceError } from "../errors/index.js";

const TRANSIENT = new Set([
  "ThrottlingException",
  "InternalServiceErrorException",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "AbortError",
]);

/** The error name and HTTP status an AWS SDK error carries (both optional: network errors have none). */
export function awsErrorInfo(err: unknown): { name: string; status?: number } {
  const e = err as { name?: unknown; $metadata?: { httpStatusCode?: unknown } } | null;
  const name = typeof e?.name === "string" ? e.name : "Error";
  const status = e?.$metadata?.httpStatusCode;
  return typeof status === "number" ? { name, status } : { name };
}

/** Whether an AWS error is worth retrying later (throttling, 5xx, network). */
export function isTransientAwsError(err: unknown): boolean {
  const { name, status } = awsErrorInfo(err);
  if (TRANSIENT.has(name)) return true;
  if (status !== undefined) return status >= 500 || status === 429;
  // No HTTP status at all: the request never got an answer (connection refused, reset, timeout).
  return true;
}

/**
 * Maps an error of an AWS call to `AWS_UNAVAILABLE` (retry later, 503) or `AWS_REJECTED` (a seller-side
 * configuration problem such as credentials or Region, 502). Coded errors pass through.
 */
export function toAwsError(err: unknown, operation: string): MarketplaceError {
  if (isMarketplaceError(err)) return err;
  const { name, status } = awsErrorInfo(err);
  if (isTransientAwsError(err))
    return new MarketplaceError(
      "AWS_UNAVAILABLE",
      `AWS Marketplace is unavailable right now (${operation}: ${name}); please retry in a minute.`,
      {
        cause: err,
        details: { httpStatus: 503, awsError: name, ...(status ? { awsStatus: status } : {}) },
      },
    );
  return new MarketplaceError(
    "AWS_REJECTED",
    `AWS Marketplace rejected ${operation} (${name}); check the seller's AWS credentials, account and Region.`,
    {
      cause: err,
      details: { httpStatus: 502, awsError: name, ...(status ? { awsStatus: status } : {}) },
    },
  );
}
