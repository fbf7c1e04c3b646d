/**
 * Who is billed. AWS knows three ways to name a buyer in a usage record:
 * - legacy: `customerIdentifier` (from ResolveCustomer) + the request-level `productCode`;
 * - transitional: `customerAWSAccountId` + `productCode`;
 * - Concurrent Agreements: `customerAWSAccountId` + `licenseArn`, and no `ProductCode` on the wire.
 * We always keep `productCode` on the identity, because a BatchMeterUsage call may carry one product only
 * and Concurrent Agreements records do not say which product they belong to.
 */
import { MarketplaceError } from "../errors/index.js";

export interface LegacyIdentity {
  productCode: string;
  customerIdentifier: string;
  customerAWSAccountId?: undefined;
  licenseArn?: undefined;
}

export interface AccountIdentity {
  productCode: string;
  customerAWSAccountId: string;
  customerIdentifier?: undefined;
  licenseArn?: undefined;
}

export interface LicenseIdentity {
  productCode: string;
  customerAWSAccountId: string;
  licenseArn: string;
  customerIdentifier?: undefined;
}

/** A buyer as AWS bills it. */
export type Identity = LegacyIdentity | AccountIdentity | LicenseIdentity;

/** An identity as callers may give it: `productCode` may be left out when only one product is configured. */
export type IdentityInput =
  | (Omit<LegacyIdentity, "productCode"> & { productCode?: string })
  | (Omit<AccountIdentity, "productCode"> & { productCode?: string })
  | (Omit<LicenseIdentity, "productCode"> & { productCode?: string });

export type IdentityMode = "legacy" | "account" | "license";

// Model patterns (AWS Marketplace Metering Smithy model).
const PRODUCT_CODE = /^[-a-zA-Z0-9/=:_.@]{1,255}$/;
const ACCOUNT_ID = /^[0-9]{12}$/;
const LICENSE_ARN =
  /^arn:aws[a-zA-Z-]*:[A-Za-z0-9][A-Za-z0-9_/.-]{0,62}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9_/.-]{0,63}:[A-Za-z0-9][A-Za-z0-9:_/+=,@.-]{0,1023}$/;

export function identityMode(identity: Identity): IdentityMode {
  if (identity.licenseArn) return "license";
  if (identity.customerIdentifier) return "legacy";
  return "account";
}

export function isValidProductCode(value: unknown): value is string {
  return typeof value === "string" && PRODUCT_CODE.test(value);
}

export function isValidAccountId(value: unknown): value is string {
  return typeof value === "string" && ACCOUNT_ID.test(value);
}

export function isValidLicenseArn(value: unknown): value is string {
  return typeof value === "string" && LICENSE_ARN.test(value);
}

function fail(message: string, details?: Record<string, unknown>): never {
  throw new MarketplaceError("INVALID_IDENTITY", message, { details });
}

/**
 * Validates an identity given by a caller and returns a normalized copy (only the fields of its mode).
 * `defaultProductCode` fills in a missing `productCode` (the single configured product).
 * Throws `MarketplaceError` `INVALID_IDENTITY` with a message that says what to fix.
 */
export function parseIdentity(input: unknown, defaultProductCode?: string): Identity {
  if (typeof input !== "object" || input === null) fail("identity must be an object");
  const raw = input as Record<string, unknown>;
  const empty = (v: unknown) => v === undefined || v === null || v === "";
  const productCode = empty(raw.productCode) ? defaultProductCode : raw.productCode;
  if (productCode === undefined)
    fail("identity.productCode is required when more than one product is configured");
  if (!isValidProductCode(productCode))
    fail("identity.productCode must be 1-255 characters of [-a-zA-Z0-9/=:_.@]");
  const { customerIdentifier, customerAWSAccountId, licenseArn } = raw;
  if (!empty(customerIdentifier)) {
    if (!empty(customerAWSAccountId) || !empty(licenseArn))
      fail(
        "identity.customerIdentifier cannot be combined with customerAWSAccountId or licenseArn (AWS treats them as mutually exclusive)",
      );
    if (typeof customerIdentifier !== "string" || customerIdentifier.length > 255)
      fail("identity.customerIdentifier must be a string of at most 255 characters");
    return { productCode, customerIdentifier };
  }
  if (empty(customerAWSAccountId))
    fail(
      empty(licenseArn)
        ? "identity needs customerIdentifier, or customerAWSAccountId (+ licenseArn for Concurrent Agreements)"
        : "identity.licenseArn needs customerAWSAccountId too",
    );
  if (!isValidAccountId(customerAWSAccountId))
    fail("identity.customerAWSAccountId must be a 12-digit AWS account id");
  if (empty(licenseArn)) return { productCode, customerAWSAccountId };
  if (!isValidLicenseArn(licenseArn))
    fail("identity.licenseArn is not a valid license ARN (arn:aws:license-manager::<account>:license:l-...)");
  return { productCode, customerAWSAccountId, licenseArn };
}

/**
 * A stable string key for an identity: equal identities give equal keys, different ones never collide
 * (fields are joined with a separator that cannot occur in product codes, account ids or ARNs, and the
 * free-form customer identifier comes last).
 */
export function identityKey(identity: Identity): string {
  if (identity.licenseArn)
    return `L|${identity.productCode}|${identity.customerAWSAccountId}|${identity.licenseArn}`;
  if (identity.customerIdentifier) return `C|${identity.productCode}|${identity.customerIdentifier}`;
  return `A|${identity.productCode}|${identity.customerAWSAccountId}`;
}

/** Inverse of {@link identityKey}. */
export function identityFromKey(key: string): Identity {
  const kind = key.slice(0, 2);
  const rest = key.slice(2);
  const sep = rest.indexOf("|");
  const productCode = rest.slice(0, sep);
  const tail = rest.slice(sep + 1);
  if (kind === "C|") return { productCode, customerIdentifier: tail };
  if (kind === "A|") return { productCode, customerAWSAccountId: tail };
  if (kind === "L|") {
    const s2 = tail.indexOf("|");
    return { productCode, customerAWSAccountId: tail.slice(0, s2), licenseArn: tail.slice(s2 + 1) };
  }
  throw new MarketplaceError("INVALID_ARGUMENT", `not an identity key: ${JSON.stringify(key.slice(0, 40))}`);
}

/**
 * The license id (`l-<hex>`) at the end of a license ARN. EventBridge examples drop the `arn:` prefix,
 * so events are correlated with registrations on this id, not on the whole string.
 */
export function licenseIdOf(licenseArn: string): string {
  const m = /(?:license[:/])?(l-[0-9a-zA-Z]+)$/.exec(licenseArn);
  return m?.[1] ?? licenseArn;
}
