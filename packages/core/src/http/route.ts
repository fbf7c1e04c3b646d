/**
 * The one route helper under every adapter's fulfillment URL and webhooks: read the body (with the
 * marketplace's limit) -> hand the request to the core -> map any error to an answer -> write it with
 * the framework's own API. An adapter supplies only the reading and the writing.
 */
import { MarketplaceError } from "../errors/index.js";
import type { IncomingRequest } from "../registration/index.js";
import type { ParsedBody } from "./body.js";
import {
  handleRegistration,
  type RegistrationHandlerOptions,
  registrationError,
  resolveRegistrationOptions,
} from "./registration.js";
import { httpSettingsOf } from "./settings.js";
import type { HttpResult, LifecycleTarget, RegistrationTarget } from "./types.js";
import {
  handleWebhook,
  type ResolvedWebhookOptions,
  resolveWebhookOptions,
  type WebhookHandlerOptions,
  type WebhookKind,
  webhookError,
} from "./webhooks.js";

/** Which route: the fulfillment URL, or one of the lifecycle webhooks. */
export type RouteKind = "registration" | WebhookKind;

/** One request as a route sees it; the body is read by `read`, at most `maxBytes` of it. */
export interface RouteExchange<R> {
  method: string;
  headers: IncomingRequest["headers"];
  url?: string;
  /** Reads the body, rejecting (413) past `maxBytes`. */
  read(maxBytes: number): Promise<ParsedBody>;
  /** Writes the answer with the framework's API; its return value is the route's. */
  write(result: HttpResult): R;
}

/** A configured route, built once per handler. */
export interface Route {
  readonly kind: RouteKind;
  /** The body limit in force (the marketplace's `buyers.*.maxBodyBytes`). */
  readonly maxBodyBytes: number;
  /** Serves one request; never rejects because of the request (every failure becomes an answer). */
  serve<R>(exchange: RouteExchange<R>): Promise<R>;
}

/** Options of {@link createRoute}, by kind. */
export type RouteOptions<K extends RouteKind> = K extends "registration"
  ? Omit<RegistrationHandlerOptions, "maxBodyBytes">
  : Omit<WebhookHandlerOptions, "maxBodyBytes"> | undefined;

/**
 * Builds a route (validates its options at once, coded `INVALID_CONFIG`). The logger and the body limit
 * come from the marketplace (declared once on the adapter's `createMarketplace`) unless given here.
 *
 * @example
 * const route = createRoute("registration", marketplace, { signUpUrl: "/signup" })
 * app.post("/marketplace/register", (req, res) =>
 *   route.serve({ method: req.method, headers: req.headers, url: req.url,
 *     read: (max) => readNodeBody(req, max), write: (r) => res.writeHead(r.status, r.headers).end(r.body) }))
 */
export function createRoute<K extends RouteKind>(
  kind: K,
  marketplace: K extends "registration" ? RegistrationTarget : LifecycleTarget,
  options: RouteOptions<K>,
): Route {
  const settings = httpSettingsOf(marketplace);
  if (kind === "registration") {
    const given = (options ?? {}) as RegistrationHandlerOptions;
    const o = resolveRegistrationOptions(
      marketplace as RegistrationTarget,
      {
        ...given,
        // One limit: the one the core applies to the fulfillment form (`buyers.registration.maxBodyBytes`).
        maxBodyBytes: settings.buyers?.registration?.maxBodyBytes,
        logger: given.logger ?? settings.logger,
      } as RegistrationHandlerOptions,
    );
    return build(
      kind,
      o.maxBodyBytes,
      (request) => handleRegistration(marketplace as RegistrationTarget, request, o),
      (err, request) => registrationError(err, acceptOf(request.headers), o),
    );
  }
  if (kind !== "sns" && kind !== "eventBridge")
    throw new MarketplaceError("INVALID_ARGUMENT", "route kind must be registration, sns or eventBridge");
  const given = (options ?? {}) as WebhookHandlerOptions;
  const o: ResolvedWebhookOptions = resolveWebhookOptions(marketplace as LifecycleTarget, kind, {
    ...given,
    maxBodyBytes: settings.buyers?.[kind]?.maxBodyBytes,
    logger: given.logger ?? settings.logger,
  } as WebhookHandlerOptions);
  return build(
    kind,
    o.maxBodyBytes,
    (request) => handleWebhook(marketplace as LifecycleTarget, kind, request, o),
    (err) => webhookError(err, kind, o),
  );
}

type Handle = (request: IncomingRequest) => Promise<HttpResult>;
type MapError = (err: unknown, request: { headers: IncomingRequest["headers"] }) => HttpResult;

function build(kind: RouteKind, maxBodyBytes: number, handle: Handle, mapError: MapError): Route {
  return {
    kind,
    maxBodyBytes,
    async serve(x) {
      let result: HttpResult;
      try {
        const body = await x.read(maxBodyBytes);
        const request: IncomingRequest = { method: x.method, headers: x.headers, url: x.url };
        if (body !== undefined) request.body = body;
        result = await handle(request);
      } catch (err) {
        // Reading failed (too large, connection lost), or a hook threw past the core's own mapping.
        result = mapError(err, x);
      }
      return x.write(result);
    },
  };
}

/** The `accept` header of a Node headers object or a fetch `Headers`. */
export function acceptOf(headers: IncomingRequest["headers"]): string | undefined {
  if (!headers) return undefined;
  if (typeof (headers as { get?: unknown }).get === "function")
    return (headers as { get(n: string): string | null }).get("accept") ?? undefined;
  const v = (headers as Record<string, string | readonly string[] | undefined>).accept;
  return Array.isArray(v) ? v.join(",") : (v as string | undefined);
}
