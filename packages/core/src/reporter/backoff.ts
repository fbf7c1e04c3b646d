/** Exponential back-off with full jitter: a random delay in [0, min(max, base × 2^attempt)]. */
export interface BackoffOptions {
  /** @default 1000 */
  baseDelayMs?: number;
  /** @default 300000 (5 minutes) */
  maxDelayMs?: number;
}

export function backoffDelay(attempt: number, o: Required<BackoffOptions>, random: () => number): number {
  const ceiling = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.min(attempt, 30));
  // At least 1 ms, so a retry is never due in the same instant it was scheduled.
  return Math.max(1, Math.floor(random() * ceiling));
}
