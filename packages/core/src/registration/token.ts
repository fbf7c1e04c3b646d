import { createHash } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";
import { type IncomingRequest, invalidRequest, mediaTypeOf, queryParam, readBody } from "./request.js";

export const TOKEN_FIELD = "x-amzn-marketplace-token";
export const OFFER_TYPE_FIELD = "x-amzn-marketplace-offer-type";
const MAX_TOKEN_LENGTH = 8192;

/** What the buyer's browser posted to the fulfillment URL. */
export interface RegistrationForm {
  /** The registration token, decoded. Never log it. */
  token: string;
  /** `x-amzn-marketplace-offer-type=free-trial` was present. */
  freeTrial: boolean;
}

export const BUYER_RETRY_HINT =
  'Go back to AWS Marketplace, open the product and click "Set up your account" again.';

function invalidToken(message: string): MarketplaceError {
  return new MarketplaceError("INVALID_TOKEN", `${message} ${BUYER_RETRY_HINT}`, {
    details: { httpStatus: 400 },
  });
}

/**
 * Normalizes a decoded token. Form decoding turns `+` into a space, and some clients post the token
 * without percent-encoding it; tokens are base64-like and never contain whitespace, so a space can only
 * have been a `+`.
 */
function cleanToken(raw: string): string {
  const token = raw.trim().replace(/ /g, "+");
  if (token === "") throw invalidToken("The registration request has an empty AWS Marketplace token.");
  if (token.length > MAX_TOKEN_LENGTH) throw invalidToken("The AWS Marketplace token is too long.");
  if (!/^[\x21-\x7e]+$/.test(token))
    throw invalidToken("The AWS Marketplace token has characters a token cannot have.");
  return token;
}

/**
 * Reads the fulfillment-URL request: `x-amzn-marketplace-token` from an
 * `application/x-www-form-urlencoded` POST body (or the query string, as some redirects pass it), and the
 * free-trial marker. Throws `INVALID_REQUEST` (wrong method 405, wrong content type 415, body too large
 * 413) or `INVALID_TOKEN` (no usable token), each with `details.httpStatus`.
 *
 * @example
 * parseRegistrationForm({ method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" },
 *   body: "x-amzn-marketplace-token=abc%2Bdef%3D%3D" }, 16384)
 * // { token: "abc+def==", freeTrial: false }
 */
export function parseRegistrationForm(request: IncomingRequest, maxBodyBytes: number): RegistrationForm {
  if (typeof request !== "object" || request === null)
    throw invalidRequest("register() needs a request object { method, headers, body }", 400);
  const method = (request.method ?? "POST").toUpperCase();
  if (method !== "POST" && method !== "GET")
    throw invalidRequest(
      `the fulfillment URL accepts POST (or GET with a query), not ${method.slice(0, 16)}`,
      405,
    );
  let token: string | undefined;
  let offerType: string | undefined;
  const body = method === "POST" ? readBody(request, maxBodyBytes) : { kind: "none" as const };
  if (body.kind === "text" && body.text.length > 0) {
    const type = mediaTypeOf(request);
    if (type !== undefined && type !== "application/x-www-form-urlencoded")
      throw invalidRequest(
        `the fulfillment URL expects an application/x-www-form-urlencoded form, not ${type.slice(0, 60)}`,
        415,
      );
    const form = new URLSearchParams(body.text);
    token = form.get(TOKEN_FIELD) ?? undefined;
    offerType = form.get(OFFER_TYPE_FIELD) ?? undefined;
  } else if (body.kind === "parsed") {
    const t = body.value[TOKEN_FIELD];
    const o = body.value[OFFER_TYPE_FIELD];
    token = typeof t === "string" ? t : Array.isArray(t) && typeof t[0] === "string" ? t[0] : undefined;
    offerType = typeof o === "string" ? o : undefined;
  }
  token ??= queryParam(request, TOKEN_FIELD);
  offerType ??= queryParam(request, OFFER_TYPE_FIELD);
  if (token === undefined)
    throw invalidToken(
      "The registration request carries no AWS Marketplace token (x-amzn-marketplace-token).",
    );
  return { token: cleanToken(token), freeTrial: offerType?.trim().toLowerCase() === "free-trial" };
}

/** SHA-256 of a token, hex. Stores and logs see only this. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}
