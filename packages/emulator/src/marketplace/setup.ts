/**
 * "Set up your account": what the buyer's browser does after subscribing on AWS Marketplace. It POSTs an
 * HTML form (`application/x-www-form-urlencoded`) with `x-amzn-marketplace-token` (and, for free-trial
 * offers, `x-amzn-marketplace-offer-type=free-trial`) to the seller's fulfillment URL.
 */
import { invalidArgument } from "../errors.js";
import { isLoopbackHost } from "../notify/index.js";

export interface SetUpAccountResult {
  /** HTTP status the fulfillment URL answered (a registration handler usually redirects: 302/303). */
  status: number;
  /** The `Location` header, when the app redirected (not followed, like a test browser would report it). */
  location?: string;
  /** Response body (first 64 KiB), for error pages. */
  body: string;
  /** The token that was posted (an emulator token; needed to replay the form by hand). */
  token: string;
}

/** Builds the form body exactly as a browser encodes it (spaces as `+`, `+ / =` percent-encoded). */
export function fulfillmentFormBody(token: string, freeTrial = false): string {
  const form = new URLSearchParams({ "x-amzn-marketplace-token": token });
  if (freeTrial) form.set("x-amzn-marketplace-offer-type", "free-trial");
  return form.toString();
}

/** Posts the registration form to `fulfillmentUrl` (loopback only; redirects are not followed). */
export async function postFulfillmentForm(
  fulfillmentUrl: string,
  token: string,
  options: { freeTrial?: boolean; timeoutMs?: number } = {},
): Promise<SetUpAccountResult> {
  let url: URL;
  try {
    url = new URL(fulfillmentUrl);
  } catch {
    throw invalidArgument("fulfillmentUrl must be an absolute http(s) URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw invalidArgument("fulfillmentUrl must be an http(s) URL");
  // The emulator never sends anything off this machine.
  if (!isLoopbackHost(url.hostname)) throw invalidArgument("fulfillmentUrl must be on a loopback address");
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", accept: "text/html,application/json" },
    body: fulfillmentFormBody(token, options.freeTrial === true),
    redirect: "manual",
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  const text = await res.text();
  const location = res.headers.get("location");
  return {
    status: res.status,
    ...(location ? { location } : {}),
    body: text.slice(0, 65_536),
    token,
  };
}
