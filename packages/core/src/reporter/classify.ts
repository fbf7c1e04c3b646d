/** Sorting AWS SDK errors into what the reporter does next. */

export type ErrorClass =
  /** ThrottlingException: nothing was processed; slow down and retry. */
  | "throttle"
  /** 5xx, timeouts, network errors: the call may or may not have been processed; retry. */
  | "transient"
  /** Credentials, permissions, unsupported Region: retry later, alert the operator. */
  | "config"
  /** The whole product is refused: every record of the batch is rejected. */
  | "product"
  /** The records are too old (or in the future) for AWS. */
  | "timestamp"
  /** A record of the batch is invalid: split the batch to find it. */
  | "invalid";

const CONFIG = new Set([
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "MissingAuthenticationTokenException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "ExpiredToken",
  "DisabledApiException",
  "CredentialsProviderError",
  "UnauthorizedException",
  // MeterUsage from another Region than the instance's: fixed by configuration, never by dropping usage.
  "InvalidEndpointRegionException",
]);

const INVALID = new Set([
  "InvalidUsageDimensionException",
  "InvalidCustomerIdentifierException",
  "InvalidLicenseException",
  "InvalidTagException",
  "InvalidUsageAllocationsException",
  "ValidationException",
  "SerializationException",
]);

export function errorName(err: unknown): string {
  if (typeof err === "object" && err !== null) {
    const e = err as { name?: unknown; code?: unknown };
    if (typeof e.name === "string" && e.name !== "Error") return e.name;
    if (typeof e.code === "string") return e.code;
  }
  return "Error";
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Classifies an error thrown by `client.send`. */
export function classifyError(err: unknown): ErrorClass {
  const name = errorName(err);
  const e = (typeof err === "object" && err !== null ? err : {}) as {
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: { throttling?: boolean };
  };
  const status = e.$metadata?.httpStatusCode;
  if (
    name === "ThrottlingException" ||
    name === "TooManyRequestsException" ||
    e.$retryable?.throttling ||
    status === 429
  )
    return "throttle";
  if (CONFIG.has(name) || status === 403) return "config";
  if (name === "InvalidProductCodeException") return "product";
  if (name === "TimestampOutOfBoundsException") return "timestamp";
  if (INVALID.has(name)) return "invalid";
  if (e.$fault === "server" || (status !== undefined && status >= 500)) return "transient";
  if (e.$fault === "client" && status !== undefined && status >= 400 && status < 500) return "invalid";
  // Network errors, timeouts, aborted sockets, deserialization failures: outcome unknown.
  return "transient";
}
