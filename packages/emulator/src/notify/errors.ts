const BRAND = Symbol.for("marketmeter.emulator.NotifierError");

/** Every code the notifier throws. */
export type NotifierErrorCode =
  /** A webhook list or option is malformed. */
  | "INVALID_CONFIG"
  /** A webhook URL points off this machine; the emulator only ever calls loopback addresses. */
  | "NON_LOOPBACK_URL"
  /** A lifecycle notification lacks a field the events need, or has a bad value. */
  | "INVALID_NOTIFICATION"
  /** The notifier was closed. */
  | "CLOSED";

/**
 * Error thrown by the notifier, with a stable string `code`.
 *
 * @example
 * try { notifier.setWebhooks({ sns: [{ url: "https://example.com/sns" }] }) }
 * catch (err) { if (isNotifierError(err, "NON_LOOPBACK_URL")) console.error(err.message) }
 */
export class NotifierError extends Error {
  readonly code: NotifierErrorCode;

  constructor(code: NotifierErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NotifierError";
    this.code = code;
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }
}

/**
 * Brand check that survives two copies of the package in one process.
 *
 * @example
 * if (isNotifierError(err, "CLOSED")) return;
 */
export function isNotifierError(value: unknown, code?: NotifierErrorCode): value is NotifierError {
  if (typeof value !== "object" || value === null) return false;
  if ((value as Record<symbol, unknown>)[BRAND] !== true) return false;
  return code === undefined || (value as NotifierError).code === code;
}
