/**
 * The lifecycle webhooks every adapter shares (EventBridge API destination, SNS HTTP subscription):
 * the core's outcome becomes the status AWS expects. 2xx means "handled, do not send again"; 4xx means
 * "this will never work" (bad secret, bad signature); 5xx makes AWS retry a transient failure.
 */
import { MarketplaceError } from "../errors/index.js";
import type { IncomingRequest } from "../registration/index.js";
import type { Logger } from "../runtime/index.js";
import { problemFromError, problemResponse } from "./problem.js";
import type { HttpResult, LifecycleTarget } from "./types.js";

/** Options of the EventBridge and SNS routes, the same in every adapter. */
export interface WebhookHandlerOptions {
  /** Largest body read. @default 262144 */
  maxBodyBytes?: number;
  /** Called with every failed notification. */
  onError?: (error: unknown) => void;
  /** @default the marketplace's logger (declared on the adapter's `createMarketplace`) */
  logger?: Logger;
}

export interface ResolvedWebhookOptions {
  maxBodyBytes: number;
  onError: ((error: unknown) => void) | undefined;
  logger: Logger | undefined;
}

export type WebhookKind = "eventBridge" | "sns";

/**
 * Validates the webhook routes' options (coded `INVALID_CONFIG`).
 *
 * @example
 * resolveWebhookOptions(marketplace, "sns", {})
 */
export function resolveWebhookOptions(
  marketplace: Partial<LifecycleTarget>,
  kind: WebhookKind,
  options: WebhookHandlerOptions = {},
): ResolvedWebhookOptions {
  const method = kind === "sns" ? "handleSns" : "handleEventBridge";
  if (typeof marketplace !== "object" || marketplace === null || typeof marketplace[method] !== "function")
    throw new MarketplaceError(
      "INVALID_CONFIG",
      `the ${kind === "sns" ? "SNS" : "EventBridge"} route needs a marketplace with buyer lifecycle (${method}()); create it with createMarketplace({ …, buyers })`,
    );
  if (typeof options !== "object" || options === null)
    throw new MarketplaceError("INVALID_CONFIG", "webhook options must be an object");
  const maxBodyBytes = options.maxBodyBytes ?? 262_144;
  if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1024 || maxBodyBytes > 10_485_760)
    throw new MarketplaceError("INVALID_CONFIG", "maxBodyBytes must be an integer from 1024 to 10485760");
  if (options.onError !== undefined && typeof options.onError !== "function")
    throw new MarketplaceError("INVALID_CONFIG", "onError must be a function");
  return { maxBodyBytes, onError: options.onError, logger: options.logger };
}

/**
 * Hands one webhook request to the core and returns the response to write.
 *
 * @example
 * const result = await handleWebhook(marketplace, "sns", { method: "POST", headers, body }, options)
 */
export async function handleWebhook(
  marketplace: LifecycleTarget,
  kind: WebhookKind,
  request: IncomingRequest,
  o: ResolvedWebhookOptions,
): Promise<HttpResult> {
  try {
    const out =
      kind === "sns" ? await marketplace.handleSns(request) : await marketplace.handleEventBridge(request);
    const body: Record<string, string> = { outcome: out.outcome };
    if (out.action) body.action = out.action;
    if (out.eventId) body.eventId = out.eventId;
    return {
      status: out.httpStatus,
      headers: { "content-type": "application/json", "cache-control": "no-store" },
      body: JSON.stringify(body),
    };
  } catch (err) {
    return webhookError(err, kind, o);
  }
}

/** The error answer of a webhook route (also for bodies refused before the core saw them). */
export function webhookError(err: unknown, kind: WebhookKind, o: ResolvedWebhookOptions): HttpResult {
  const p = problemFromError(err, "The notification could not be processed; it will be retried.");
  o.logger?.[p.status >= 500 ? "error" : "warn"](
    { kind, code: p.code, error: err instanceof Error ? err.message : String(err) },
    "marketmeter: lifecycle notification refused",
  );
  try {
    o.onError?.(err);
  } catch {
    // the status still tells AWS what to do
  }
  return problemResponse(p);
}
