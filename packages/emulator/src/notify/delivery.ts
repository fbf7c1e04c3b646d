import { isIPv4, isIPv6 } from "node:net";
import { NotifierError } from "./errors.js";

/** How hard the notifier tries to hand one message to one endpoint. */
export interface DeliveryPolicy {
  /**
   * Total attempts per message (first try included).
   * @default 3
   */
  attempts?: number;
  /**
   * Wait before the second attempt, doubled for each later one.
   * @default 50
   */
  backoffMs?: number;
  /**
   * Abort an attempt that has not produced response headers after this long.
   * @default 5000
   */
  timeoutMs?: number;
}

export interface ResolvedDeliveryPolicy {
  attempts: number;
  backoffMs: number;
  timeoutMs: number;
}

/** One HTTP attempt of a delivery. */
export interface DeliveryAttempt {
  status: number | "error";
  /** Why the attempt failed without an HTTP status (connection refused, timeout, aborted). */
  error?: string;
  /** Wall-clock time the attempt started, ISO 8601 (attempts happen in real time, not emulator time). */
  startedAt: string;
}

export interface DeliveryOutcome {
  status: number | "error";
  attempts: number;
  attemptLog: DeliveryAttempt[];
  ok: boolean;
  error?: string;
}

export function resolveDeliveryPolicy(policy: DeliveryPolicy | undefined): ResolvedDeliveryPolicy {
  const attempts = policy?.attempts ?? 3;
  const backoffMs = policy?.backoffMs ?? 50;
  const timeoutMs = policy?.timeoutMs ?? 5000;
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 10) {
    throw new NotifierError(
      "INVALID_CONFIG",
      `delivery.attempts must be an integer from 1 to 10, got ${attempts}`,
    );
  }
  if (!Number.isFinite(backoffMs) || backoffMs < 0 || backoffMs > 60_000) {
    throw new NotifierError("INVALID_CONFIG", `delivery.backoffMs must be 0..60000, got ${backoffMs}`);
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > 120_000) {
    throw new NotifierError("INVALID_CONFIG", `delivery.timeoutMs must be 1..120000, got ${timeoutMs}`);
  }
  return { attempts, backoffMs, timeoutMs };
}

/**
 * True when `hostname` (as `URL.hostname` gives it) can only reach this machine.
 *
 * @example
 * isLoopbackHost("127.0.0.1") // true
 * isLoopbackHost("[::1]") // true
 * isLoopbackHost("example.com") // false
 */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[/, "").replace(/\]$/, "").toLowerCase();
  if (host === "localhost") return true;
  if (isIPv4(host)) return host.startsWith("127.");
  if (isIPv6(host)) {
    if (host === "::1" || host === "0:0:0:0:0:0:0:1") return true;
    // IPv4-mapped loopback, which URL normalises to hex groups (::ffff:7f00:1).
    const mapped = /^::ffff:(?:(\d+\.\d+\.\d+\.\d+)|([0-9a-f]{1,4}):[0-9a-f]{1,4})$/.exec(host);
    if (mapped?.[1]) return mapped[1].startsWith("127.");
    if (mapped?.[2]) return Number.parseInt(mapped[2], 16) >> 8 === 127;
  }
  return false;
}

/**
 * Parses and checks a webhook URL: http(s) only, and only loopback hosts, because the emulator must
 * never call anything outside the machine it runs on.
 */
export function assertLoopbackUrl(raw: unknown, where: string): URL {
  if (typeof raw !== "string" || raw.length === 0) {
    throw new NotifierError("INVALID_CONFIG", `${where}.url must be a non-empty string`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch (cause) {
    throw new NotifierError("INVALID_CONFIG", `${where}.url is not a valid URL: ${raw}`, { cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new NotifierError("INVALID_CONFIG", `${where}.url must use http or https, got ${url.protocol}`);
  }
  if (!isLoopbackHost(url.hostname)) {
    throw new NotifierError(
      "NON_LOOPBACK_URL",
      `${where}.url ${url.origin} is not a loopback address: the emulator only delivers to 127.0.0.0/8, ::1 or localhost, never outside this machine`,
    );
  }
  return url;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Statuses worth another attempt: the receiver may be restarting or shedding load. */
function isRetryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * POSTs `body` to a loopback `url` with bounded retries. Never throws: the outcome says what happened.
 * Redirects are not followed, so a receiver cannot bounce the emulator off the machine.
 */
export async function deliver(
  url: string,
  headers: Record<string, string>,
  body: string,
  policy: ResolvedDeliveryPolicy,
  signal: AbortSignal,
): Promise<DeliveryOutcome> {
  const attemptLog: DeliveryAttempt[] = [];
  const parsed = new URL(url);
  if (!isLoopbackHost(parsed.hostname)) {
    const error = `refused non-loopback URL ${parsed.origin}`;
    return { status: "error", attempts: 0, attemptLog, ok: false, error };
  }
  for (let attempt = 1; attempt <= policy.attempts; attempt++) {
    if (signal.aborted) break;
    const startedAt = new Date().toISOString();
    try {
      const res = await fetch(parsed, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.any([signal, AbortSignal.timeout(policy.timeoutMs)]),
      });
      // Drain the body so the connection is released; its content does not matter.
      await res.arrayBuffer().catch(() => undefined);
      attemptLog.push({ status: res.status, startedAt });
      if (res.status >= 200 && res.status < 300) {
        return { status: res.status, attempts: attempt, attemptLog, ok: true };
      }
      if (!isRetryable(res.status)) break;
    } catch (err) {
      const reason = signal.aborted
        ? "aborted: notifier closed"
        : err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")
          ? `timed out after ${policy.timeoutMs} ms`
          : describeFetchError(err);
      attemptLog.push({ status: "error", error: reason, startedAt });
    }
    if (attempt < policy.attempts) await sleep(policy.backoffMs * 2 ** (attempt - 1), signal);
  }
  const last = attemptLog[attemptLog.length - 1];
  const outcome: DeliveryOutcome = {
    status: last?.status ?? "error",
    attempts: attemptLog.length,
    attemptLog,
    ok: false,
  };
  const error = last?.error ?? (signal.aborted && !last ? "aborted: notifier closed" : undefined);
  if (error !== undefined) outcome.error = error;
  return outcome;
}

function describeFetchError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const cause = (err as Error & { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as Error & { code?: string }).code;
    return code ? `${code}: ${cause.message}` : cause.message;
  }
  return err.message;
}
