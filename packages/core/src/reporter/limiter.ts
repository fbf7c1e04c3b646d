/**
 * Client-side pacing: never more than `callsPerSecond` calls start in any sliding window, so the
 * 10 calls per second BatchMeterUsage quota is never hit by us. Uses monotonic real time: the quota is
 * about real request rate, whatever the injected business clock says.
 */
export interface RateLimiterOptions {
  callsPerSecond: number;
  /** Extra spacing that absorbs network jitter between our send time and the server's arrival time. */
  marginMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class RateLimiter {
  readonly #perWindow: number;
  readonly #windowMs: number;
  readonly #margin: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #starts: number[] = [];
  #blockedUntil = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(o: RateLimiterOptions) {
    this.#perWindow = Math.max(1, Math.floor(o.callsPerSecond));
    this.#windowMs = (1000 * this.#perWindow) / o.callsPerSecond;
    this.#margin = o.marginMs ?? 20;
    this.#now = o.now ?? (() => performance.now());
    this.#sleep = o.sleep ?? realSleep;
  }

  /** Resolves when one more call may start; callers are served in order. */
  acquire(): Promise<void> {
    const next = this.#chain.then(() => this.#wait());
    this.#chain = next.catch(() => {});
    return next;
  }

  /** After a throttling answer: pause all calls for a while. */
  pause(ms: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, this.#now() + ms);
  }

  async #wait(): Promise<void> {
    for (;;) {
      const t = this.#now();
      if (t < this.#blockedUntil) {
        await this.#sleep(this.#blockedUntil - t);
        continue;
      }
      const horizon = t - this.#windowMs - this.#margin;
      let first = this.#starts[0];
      while (first !== undefined && first <= horizon) {
        this.#starts.shift();
        first = this.#starts[0];
      }
      if (first === undefined || this.#starts.length < this.#perWindow) break;
      await this.#sleep(first - horizon);
    }
    this.#starts.push(this.#now());
  }
}

/** Waits `ms`, or less when `signal` aborts (shutdown must not wait out a pacing delay). */
export function sleepUnlessAborted(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
