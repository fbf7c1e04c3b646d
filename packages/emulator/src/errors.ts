const BRAND = Symbol.for("marketmeter.emulator.error");

/** Codes of {@link EmulatorError}: configuration and control-API misuse (never wire errors). */
export type EmulatorErrorCode =
  | "EMU_INVALID_CONFIG"
  | "EMU_INVALID_ARGUMENT"
  | "EMU_NOT_FOUND"
  | "EMU_CONFLICT"
  | "EMU_NOT_RUNNING";

/**
 * Error thrown by the emulator's programmatic API (and answered as JSON by the control API) when a
 * caller passes something the emulator cannot use. It says what is wrong and how to fix it.
 *
 * @example
 * try { emulator.addLicense({ licenseArn: "x" } as never); }
 * catch (err) { if (isEmulatorError(err)) console.log(err.code); }
 */
export class EmulatorError extends Error {
  readonly code: EmulatorErrorCode;
  /** HTTP status the control API uses for this error. */
  readonly status: number;
  constructor(code: EmulatorErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "EmulatorError";
    this.code = code;
    this.status = code === "EMU_NOT_FOUND" ? 404 : code === "EMU_CONFLICT" ? 409 : 400;
    Object.defineProperty(this, BRAND, { value: true });
  }
}

/** True for an {@link EmulatorError}, even one created by another copy of this package. */
export function isEmulatorError(value: unknown): value is EmulatorError {
  return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** A modeled or front-end error answered on the AWS wire. Internal: thrown inside operation handlers. */
export class ApiError extends Error {
  readonly type: string;
  readonly status: number;
  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
  }
}

export const invalidConfig = (message: string): EmulatorError =>
  new EmulatorError("EMU_INVALID_CONFIG", message);
export const invalidArgument = (message: string): EmulatorError =>
  new EmulatorError("EMU_INVALID_ARGUMENT", message);
