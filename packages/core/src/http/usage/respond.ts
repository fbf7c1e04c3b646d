/** What both usage routes share: the request they see, strict headers, and refusals. */
import { createHash } from "node:crypto";
import type { RequestHeaders } from "../../registration/index.js";
import { type Problem, prefersJson, problem, problemResponse } from "../problem.js";
import { acceptOf } from "../route.js";
import type { HttpResult } from "../types.js";
import { html } from "./html.js";

/** One request to a usage route, as an adapter hands it over. */
export interface UsageRequest<A extends unknown[]> {
  method: string;
  /** Path and query string (the query is what the seller page reads). */
  url: string;
  headers: RequestHeaders | undefined;
  /** The peer's address (`req.socket.remoteAddress`), for `localOnly`. */
  remoteAddress: string | undefined;
  /** The framework's own request arguments, passed to `authorize` / `getCustomer`. */
  args: A;
}

/** The page's only style sheet; allowed by its hash, so the policy needs no `unsafe-inline`. */
export const USAGE_CSS = [
  "body{font:15px/1.5 system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;color:#1b1b1b;background:#fff}",
  "table{border-collapse:collapse;margin:.5rem 0 1.5rem}caption{text-align:left;font-weight:600;padding:.25rem 0}",
  "th,td{border:1px solid #bbb;padding:.2rem .5rem;text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}",
  "form{display:flex;flex-wrap:wrap;gap:.75rem;align-items:end;margin:1rem 0}label{display:flex;flex-direction:column;font-weight:600}",
  "input,select,button{font:inherit;padding:.25rem}a,button,input,select{outline-offset:2px}",
  ":focus-visible{outline:3px solid #1a5fb4}code{word-break:break-all}",
  "svg{max-width:100%;height:auto;border:1px solid #bbb}.sent{fill:#2a7d2a}.open{fill:#1a5fb4}.not-sent{fill:#b3261e}.uncertain{fill:#8a6d00}",
  ".key span{display:inline-block;margin-right:1rem}.sr{position:absolute;left:-9999px}",
].join("");

const STYLE_HASH = `sha256-${createHash("sha256").update(USAGE_CSS).digest("base64")}`;

/**
 * No scripts, fonts, images or frames from anywhere, only the page's own style sheet; forms post back
 * to the page itself.
 */
export const USAGE_CSP = `default-src 'none'; style-src '${STYLE_HASH}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;

/** Headers of every usage answer: never cached (usage changes, and it is private), never framed. */
export function usageHeaders(contentType: string): Record<string, string> {
  return {
    "content-type": contentType,
    "cache-control": "no-store",
    "content-security-policy": USAGE_CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
  };
}

/** A refusal: problem JSON when the caller prefers JSON, else a one-paragraph page. */
export function refuse(
  headers: RequestHeaders | undefined,
  p: Problem,
  extra: Record<string, string> = {},
): HttpResult {
  if (prefersJson(acceptOf(headers))) {
    const r = problemResponse(p, extra);
    return { ...r, headers: { ...usageHeaders(r.headers["content-type"] as string), ...extra } };
  }
  const body = html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${p.title}</title><style>${USAGE_CSS}</style></head>
<body><main><h1>${p.title}</h1><p>${p.detail}</p></main></body></html>`;
  return {
    status: p.status,
    headers: { ...usageHeaders("text/html; charset=utf-8"), ...extra },
    body: body.value,
  };
}

/** GET and HEAD only (the routes are read-only). */
export function methodRefusal(request: {
  method: string;
  headers: RequestHeaders | undefined;
}): HttpResult | undefined {
  const m = request.method.toUpperCase();
  if (m === "GET" || m === "HEAD") return undefined;
  return refuse(request.headers, problem(405, "method-not-allowed", "This page only answers GET."), {
    allow: "GET, HEAD",
  });
}

/** An answer to HEAD has the headers of GET and no body. */
export function forMethod(method: string, result: HttpResult): HttpResult {
  return method.toUpperCase() === "HEAD" ? { ...result, body: "" } : result;
}

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.startsWith("::ffff:") ? address.slice(7) : address;
  return a === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a);
}

/** The query string of a path (without `?`). */
export function queryOf(url: string): string {
  const i = url.indexOf("?");
  return i < 0 ? "" : url.slice(i + 1);
}
