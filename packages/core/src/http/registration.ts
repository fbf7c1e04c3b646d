/**
 * The fulfillment-URL route every adapter shares: the buyer's browser POSTs the token, we resolve it at
 * once and send the browser on (303) to the seller's sign-up page with the registration id, or explain
 * what went wrong in a page (or JSON for API clients).
 */
import type { Registration } from "../directory/index.js";
import { MarketplaceError } from "../errors/index.js";
import { type IncomingRequest, invalidRequest } from "../registration/index.js";
import type { Logger } from "../runtime/index.js";
import { type Problem, prefersJson, problemFromError, problemPage, problemResponse } from "./problem.js";
import type { HttpResult, RegistrationTarget } from "./types.js";

/** Options of the registration route, the same in every adapter. */
export interface RegistrationHandlerOptions {
  /**
   * Where the browser goes after a successful registration: the seller's sign-up / sign-in page, as a
   * path (`/signup`) or an absolute URL. The registration id is appended as a query parameter.
   */
  signUpUrl: string;
  /** Name of the query parameter that carries the registration id. @default "registration" */
  param?: string;
  /**
   * Also read the token from the URL: GET requests and the query string of a POST. AWS Marketplace POSTs
   * a form; a token in a URL ends up in access logs and browser history. Off, GET and HEAD get 405 with
   * `Allow: POST` (even when the route is mounted with `app.all` or `app.use`).
   * @default false
   */
  allowGet?: boolean;
  /** Largest form body read. @default 16384 */
  maxBodyBytes?: number;
  /** Renders the error page for browsers. @default a small built-in page */
  renderError?: (problem: Problem) => string;
  /** Called after each successful registration (audit log, analytics); errors are logged only. */
  onRegistered?: (registration: Registration) => void | Promise<void>;
  /** Called with every failed registration. */
  onError?: (error: unknown) => void;
  /** @default the marketplace's logger (declared on the adapter's `createMarketplace`) */
  logger?: Logger;
}

export interface ResolvedRegistrationOptions
  extends Required<Pick<RegistrationHandlerOptions, "signUpUrl" | "param" | "maxBodyBytes" | "allowGet">> {
  renderError: (problem: Problem) => string;
  onRegistered: RegistrationHandlerOptions["onRegistered"];
  onError: RegistrationHandlerOptions["onError"];
  logger: Logger | undefined;
}

const PARAM = /^[A-Za-z0-9_.~-]{1,64}$/;
// Printable ASCII without space or backslash: browsers read `\` as `/` (so `/\evil.example` is `//`, another
// origin), URL parsers drop tabs and newlines, and CR/LF would split the Location header.
const URL_CHARS = /^[\x21-\x5b\x5d-\x7e]+$/;

/** A same-origin path (one leading `/`) or an absolute http(s) URL with a host and no credentials. */
function isSafeSignUpUrl(value: unknown): value is string {
  if (typeof value !== "string" || value.length > 2048 || !URL_CHARS.test(value)) return false;
  if (value.startsWith("/")) return !value.startsWith("//");
  if (!/^https?:\/\/[^/]/i.test(value)) return false;
  try {
    const url = new URL(value);
    return (
      (url.protocol === "https:" || url.protocol === "http:") &&
      url.hostname !== "" &&
      url.username === "" &&
      url.password === "" &&
      !value
        .slice(value.indexOf("//") + 2)
        .split(/[/?#]/)[0]
        ?.includes("@")
    );
  } catch {
    return false;
  }
}

/**
 * Validates the registration route's options (coded `INVALID_CONFIG`).
 *
 * @example
 * resolveRegistrationOptions(marketplace, { signUpUrl: "/signup" })
 */
export function resolveRegistrationOptions(
  marketplace: RegistrationTarget,
  options: RegistrationHandlerOptions,
): ResolvedRegistrationOptions {
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace.register !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "registrationHandler needs a marketplace with buyer lifecycle (register()); create it with createMarketplace({ …, buyers })",
    );
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "registrationHandler needs options { signUpUrl }");
  const { signUpUrl } = options;
  if (!isSafeSignUpUrl(signUpUrl))
    throw new MarketplaceError(
      "INVALID_CONFIG",
      'signUpUrl must be a path on this site ("/signup", one leading slash) or an absolute http(s) URL without credentials, in printable ASCII with no spaces or backslashes (percent-encode them)',
    );
  const allowGet = options.allowGet ?? false;
  if (typeof allowGet !== "boolean")
    throw new MarketplaceError("INVALID_CONFIG", "allowGet must be a boolean");
  const param = options.param ?? "registration";
  if (typeof param !== "string" || !PARAM.test(param))
    throw new MarketplaceError(
      "INVALID_CONFIG",
      "param must be a query parameter name of 1-64 URL-safe characters",
    );
  const maxBodyBytes = options.maxBodyBytes ?? 16_384;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 256 || maxBodyBytes > 1_048_576)
    throw new MarketplaceError("INVALID_CONFIG", "maxBodyBytes must be an integer from 256 to 1048576");
  for (const hook of ["renderError", "onRegistered", "onError"] as const)
    if (options[hook] !== undefined && typeof options[hook] !== "function")
      throw new MarketplaceError("INVALID_CONFIG", `${hook} must be a function`);
  return {
    signUpUrl,
    param,
    maxBodyBytes,
    allowGet,
    renderError: options.renderError ?? problemPage,
    onRegistered: options.onRegistered,
    onError: options.onError,
    logger: options.logger,
  };
}

/**
 * Appends `name=value` to a URL or path, keeping its query and fragment.
 *
 * @example
 * withQueryParam("/signup?plan=pro#top", "registration", "reg_x") // "/signup?plan=pro&registration=reg_x#top"
 */
export function withQueryParam(url: string, name: string, value: string): string {
  const hashAt = url.indexOf("#");
  const base = hashAt >= 0 ? url.slice(0, hashAt) : url;
  const hash = hashAt >= 0 ? url.slice(hashAt) : "";
  const sep = base.includes("?") ? (base.endsWith("?") || base.endsWith("&") ? "" : "&") : "?";
  return `${base}${sep}${encodeURIComponent(name)}=${encodeURIComponent(value)}${hash}`;
}

/** The error answer of the registration route: a page for browsers, problem JSON for API clients. */
export function registrationError(
  err: unknown,
  accept: string | null | undefined,
  o: ResolvedRegistrationOptions,
): HttpResult {
  const p = problemFromError(
    err,
    "AWS Marketplace could not be reached to finish your sign-up. Please try again in a few minutes.",
  );
  const headers: Record<string, string> =
    p.status === 405 ? { allow: o.allowGet ? "GET, POST" : "POST" } : {};
  if (prefersJson(accept)) return problemResponse(p, headers);
  let html: string;
  try {
    html = o.renderError(p);
  } catch {
    html = problemPage(p);
  }
  return {
    status: p.status,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", ...headers },
    body: html,
  };
}

/**
 * Runs the fulfillment-URL flow for one request and returns the response to write.
 *
 * @example
 * const result = await handleRegistration(marketplace, { method: "POST", headers, body }, options)
 * res.writeHead(result.status, result.headers).end(result.body)
 */
export async function handleRegistration(
  marketplace: RegistrationTarget,
  request: IncomingRequest,
  o: ResolvedRegistrationOptions,
): Promise<HttpResult> {
  const accept = acceptOf(request);
  let registration: Registration;
  try {
    registration = await marketplace.register(tokenRequest(request, o.allowGet));
  } catch (err) {
    const level = problemFromError(err).status >= 500 ? "error" : "info";
    o.logger?.[level]({ code: (err as { code?: string }).code }, "marketmeter: registration failed");
    try {
      o.onError?.(err);
    } catch {
      // the buyer still gets the explanation
    }
    return registrationError(err, accept, o);
  }
  if (o.onRegistered) {
    try {
      await o.onRegistered(registration);
    } catch (err) {
      o.logger?.error({ error: String(err) }, "marketmeter: onRegistered threw");
    }
  }
  const location = withQueryParam(o.signUpUrl, o.param, registration.id);
  if (prefersJson(accept))
    return {
      status: 303,
      headers: { location, "content-type": "application/json", "cache-control": "no-store" },
      body: JSON.stringify({ registrationId: registration.id, location }),
    };
  return {
    status: 303,
    headers: { location, "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
    body: `See ${location}`,
  };
}

/**
 * What the core may read the token from: the POSTed form only, unless `allowGet` (a token in a URL ends up
 * in access logs and browser history). Throws `INVALID_REQUEST` 405 for any other method.
 */
function tokenRequest(request: IncomingRequest, allowGet: boolean): IncomingRequest {
  if (typeof request !== "object" || request === null) return request;
  const method = (request.method ?? "POST").toUpperCase();
  if (allowGet && (method === "GET" || method === "POST")) return request;
  if (method !== "POST")
    throw invalidRequest(
      allowGet
        ? `the fulfillment URL accepts POST or GET, not ${method.slice(0, 16)}`
        : `the fulfillment URL accepts the AWS Marketplace form by POST only, not ${method.slice(0, 16)}`,
      405,
    );
  const { query: _query, url: _url, ...posted } = request;
  return posted;
}

function acceptOf(request: IncomingRequest): string | undefined {
  const h = request.headers;
  if (!h) return undefined;
  if (typeof (h as { get?: unknown }).get === "function")
    return (h as { get(n: string): string | null }).get("accept") ?? undefined;
  const v = (h as Record<string, string | readonly string[] | undefined>).accept;
  return Array.isArray(v) ? v.join(",") : (v as string | undefined);
}
