/** Injectable time and logging, so the core never reads globals it cannot be tested without. */

/** Returns the current time in epoch milliseconds. */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();

/**
 * The clock as the core reads it: whole milliseconds, whatever an injected clock returns (one built on
 * `performance.now()` has fractions), because stores keep times as integers (PostgreSQL bigint, SQLite).
 */
export function wholeMilliseconds(clock: Clock): Clock {
  return clock === systemClock ? clock : () => Math.floor(clock());
}

/**
 * A pino-compatible logger (pino, or anything with these four methods). marketmeter logs structured
 * objects first and a message second, and never logs registration tokens or secrets.
 */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const noop = () => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };

export const HOUR_MS = 3_600_000;

/** Start of the UTC hour containing `ms`. */
export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
