/** Exit codes: a cron job or CI alerts on them, so they are part of the public contract (README). */
export const EXIT = {
  /** Everything is fine. */
  OK: 0,
  /** Something is at risk, a check failed, or what was asked for does not exist. */
  ATTENTION: 1,
  /** The command line is wrong (unknown option, bad date, missing config). */
  USAGE: 2,
  /** The store could not be opened or reached. */
  STORE: 3,
  /** An unexpected error (a bug: please report it). */
  INTERNAL: 4,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Stable machine-readable codes printed with `--json` next to the message. */
export type CliErrorCode =
  | "USAGE"
  | "INVALID_DATE"
  | "INVALID_DURATION"
  | "INVALID_PERIOD"
  | "INVALID_CONFIG"
  | "INVALID_STORE_URL"
  | "STORE_PACKAGE_MISSING"
  | "STORE_NOT_FOUND"
  | "STORE_UNREACHABLE"
  | "UNKNOWN_CUSTOMER"
  | "INTERNAL";

const EXIT_OF: Record<CliErrorCode, ExitCode> = {
  USAGE: EXIT.USAGE,
  INVALID_DATE: EXIT.USAGE,
  INVALID_DURATION: EXIT.USAGE,
  INVALID_PERIOD: EXIT.USAGE,
  INVALID_CONFIG: EXIT.USAGE,
  INVALID_STORE_URL: EXIT.USAGE,
  STORE_PACKAGE_MISSING: EXIT.USAGE,
  STORE_NOT_FOUND: EXIT.STORE,
  STORE_UNREACHABLE: EXIT.STORE,
  UNKNOWN_CUSTOMER: EXIT.ATTENTION,
  INTERNAL: EXIT.INTERNAL,
};

/** An error the CLI explains to its user and turns into an exit code. */
export class CliError extends Error {
  readonly exitCode: ExitCode;
  constructor(
    readonly code: CliErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "CliError";
    this.exitCode = EXIT_OF[code];
  }
}
