/**
 * Error bodies: RFC 9457 problem details for programs, a small readable page for the buyer's browser.
 */
import { isMarketplaceError, MarketplaceError } from "../errors/index.js";
import type { HttpResult } from "./types.js";

/** An RFC 9457 problem details object (`application/problem+json`). */
export interface Problem {
  /** A URN naming the kind of problem, e.g. `urn:marketmeter:problem:subscription-cancelled`. */
  type: string;
  title: string;
  status: number;
  /** A sentence the caller (or the buyer) can act on. */
  detail: string;
  /** The request path, when known. */
  instance?: string;
  /** The `MarketplaceError` code, when there is one. */
  code?: string;
  /** Why access was denied (the guard). */
  reason?: string;
}

export const PROBLEM_JSON = "application/problem+json";

const TITLES: Readonly<Record<number, string>> = {
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  410: "Gone",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
};

/** The reason phrase of a status (the problem title when nothing more specific is known). */
export function statusTitle(status: number): string {
  return TITLES[status] ?? (status >= 500 ? "Server Error" : "Request Error");
}

/**
 * A problem details object.
 *
 * @example
 * problem(402, "subscription-cancelled", "Your AWS Marketplace subscription has ended.", { reason: "cancelled" })
 */
export function problem(status: number, kind: string, detail: string, extra: Partial<Problem> = {}): Problem {
  return {
    type: `urn:marketmeter:problem:${kind}`,
    title: extra.title ?? statusTitle(status),
    status,
    detail,
    ...extra,
  };
}

/** Status and buyer-safe text of any error: coded errors keep their message, others become a generic 500. */
export function problemFromError(
  err: unknown,
  fallbackDetail = "The request could not be completed.",
): Problem {
  if (isMarketplaceError(err)) {
    const declared = Number(err.details?.httpStatus);
    const status =
      Number.isInteger(declared) && declared >= 400 && declared <= 599
        ? declared
        : err.code === "AWS_UNAVAILABLE" ||
            err.code === "AWS_THROTTLED" ||
            err.code === "STORE_ERROR" ||
            err.code === "CLOSED"
          ? 503
          : err.code === "INVALID_CONFIG"
            ? 500
            : 400;
    // Server-side failures keep their internals (endpoints, stack hints) out of the response.
    const detail = status >= 500 ? fallbackDetail : err.message;
    return problem(status, err.code.toLowerCase().replace(/_/g, "-"), detail, { code: err.code });
  }
  return problem(500, "internal-error", fallbackDetail);
}

/** A problem as a JSON response. */
export function problemResponse(p: Problem, headers: Record<string, string> = {}): HttpResult {
  return {
    status: p.status,
    headers: { "content-type": PROBLEM_JSON, "cache-control": "no-store", ...headers },
    body: JSON.stringify(p),
  };
}

/**
 * A refusal (402/403/503 of the access guard) as an error for the framework's own error channel: the
 * `status`, `statusCode`, `expose` and `headers` that http-errors conventions use, and the problem body.
 */
export interface ProblemError extends MarketplaceError {
  readonly status: number;
  readonly statusCode: number;
  readonly expose: true;
  readonly headers: Record<string, string>;
  readonly problem: Problem;
}

/**
 * The error an adapter hands to its framework for a refused request.
 *
 * @example
 * next(problemError(problem(402, "subscription-cancelled", "Your subscription has ended.")))
 */
export function problemError(p: Problem, headers: Record<string, string> = {}): ProblemError {
  const err = new MarketplaceError("ACCESS_DENIED", p.detail, {
    details: { httpStatus: p.status, reason: p.reason, problem: p },
  }) as MarketplaceError & Record<string, unknown>;
  err.status = p.status;
  err.statusCode = p.status;
  err.expose = true;
  err.headers = headers;
  err.problem = p;
  return err as unknown as ProblemError;
}

/** The problem of an error made by {@link problemError} (also under a framework's wrapper's `cause`). */
export function problemOf(err: unknown): ProblemError | undefined {
  for (let e = err, i = 0; typeof e === "object" && e !== null && i < 3; e = (e as Error).cause, i++)
    if (isMarketplaceError(e) && (e as Partial<ProblemError>).problem !== undefined) return e as ProblemError;
  return undefined;
}

const ESCAPES: Readonly<Record<string, string>> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] as string);
}

/** A small self-contained HTML page that explains a problem to a person. */
export function problemPage(p: Problem): string {
  const title = escapeHtml(
    p.status >= 500 ? "We could not finish setting up your account" : "We could not set up your account",
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}h1{font-size:1.4rem}code{color:#666}</style>
</head>
<body>
<h1>${title}</h1>
<p>${escapeHtml(p.detail)}</p>
<p><code>${escapeHtml(p.code ?? p.type)} (HTTP ${p.status})</code></p>
</body>
</html>
`;
}

/**
 * True when the client asked for JSON more than for HTML (by `Accept` q-values, then order). Browsers
 * send `text/html` first; API clients send `application/json` or `application/problem+json`.
 *
 * @example
 * prefersJson("application/json") // true
 * prefersJson("text/html,application/xhtml+xml,*\/*;q=0.8") // false
 */
export function prefersJson(accept: string | null | undefined): boolean {
  if (!accept) return false;
  let json = -1;
  let html = -1;
  let jsonAt = Number.POSITIVE_INFINITY;
  let htmlAt = Number.POSITIVE_INFINITY;
  const parts = accept.split(",");
  for (let i = 0; i < parts.length; i++) {
    const [rawType, ...params] = (parts[i] as string).split(";");
    const type = (rawType ?? "").trim().toLowerCase();
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split("=");
      if (k?.trim() === "q") q = Number(v);
    }
    if (!Number.isFinite(q)) q = 0;
    if (type === "application/json" || type === PROBLEM_JSON || type.endsWith("+json")) {
      if (q > json) [json, jsonAt] = [q, i];
    } else if (type === "text/html" || type === "application/xhtml+xml") {
      if (q > html) [html, htmlAt] = [q, i];
    }
  }
  if (json <= 0) return false;
  if (json !== html) return json > html;
  return jsonAt < htmlAt;
}
