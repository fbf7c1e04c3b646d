import { invalidArgument } from "./errors.js";

/**
 * The emulator's notion of "now". Real time by default; `set` moves it to another instant and keeps
 * it ticking (an offset from real time) unless frozen.
 */
export interface EmulatorClock {
  /** Current emulator time. */
  now(): Date;
  /** Jump to `t` (Date, ISO string or epoch milliseconds); `freeze: true` also stops it there. */
  set(t: Date | string | number, opts?: { freeze?: boolean }): void;
  /** Move forward (or back, with a negative number) by `ms` milliseconds. */
  advance(ms: number): void;
  /** Stop the clock at the current instant. */
  freeze(): void;
  /** Let the clock tick again from where it stands. */
  unfreeze(): void;
  /** True while frozen. */
  readonly frozen: boolean;
}

/** Parses a Date, ISO 8601 string or epoch-milliseconds number into epoch milliseconds. */
export function toEpochMs(t: Date | string | number, what = "time"): number {
  const ms =
    t instanceof Date ? t.getTime() : typeof t === "number" ? t : typeof t === "string" ? Date.parse(t) : NaN;
  if (!Number.isFinite(ms)) {
    throw invalidArgument(
      `${what} must be a Date, an ISO 8601 string or epoch milliseconds; got ${String(t)}`,
    );
  }
  return ms;
}

/** Creates a clock; `onChange` runs after every set/advance (the state uses it to fire timed events). */
export function createClock(onChange?: () => void): EmulatorClock {
  let offset = 0;
  let frozenAt: number | undefined;
  const nowMs = (): number => frozenAt ?? Date.now() + offset;
  return {
    now: () => new Date(nowMs()),
    set(t, opts) {
      const target = toEpochMs(t);
      if (opts?.freeze || frozenAt !== undefined) frozenAt = target;
      offset = target - Date.now();
      if (opts?.freeze === false) frozenAt = undefined;
      onChange?.();
    },
    advance(ms) {
      if (typeof ms !== "number" || !Number.isFinite(ms))
        throw invalidArgument("advance(ms) needs a finite number");
      if (frozenAt !== undefined) frozenAt += ms;
      offset += ms;
      onChange?.();
    },
    freeze() {
      frozenAt = nowMs();
    },
    unfreeze() {
      if (frozenAt === undefined) return;
      offset = frozenAt - Date.now();
      frozenAt = undefined;
    },
    get frozen() {
      return frozenAt !== undefined;
    },
  };
}
