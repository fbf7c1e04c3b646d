/**
 * The acceptance window of BatchMeterUsage: a record is refused 24 hours or more after its timestamp,
 * and usage of a previous UTC month is refused from 06:00 UTC on the 1st of the next month.
 */
import { HOUR_MS } from "../runtime/index.js";

export const WINDOW_MS = 24 * HOUR_MS;
const MONTH_CUTOFF_MS = 6 * HOUR_MS;

/** First instant after which a record stamped `timestamp` is no longer accepted (epoch ms). */
export function acceptanceDeadline(timestamp: number): number {
  const d = new Date(timestamp);
  const nextMonth = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return Math.min(timestamp + WINDOW_MS, nextMonth + MONTH_CUTOFF_MS);
}

/** Whether AWS still accepts a record stamped `timestamp` at time `now`. */
export function isAcceptable(timestamp: number, now: number): boolean {
  return now < acceptanceDeadline(timestamp);
}
