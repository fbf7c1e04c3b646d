import { createHash } from "node:crypto";
import { ApiError } from "../errors.js";
import { EpochSeconds } from "../wire/cbor.js";
import { type Checked, present } from "../wire/shapes.js";
import type { OpContext, OpResult } from "./context.js";

export interface GetEntitlementsInput {
  ProductCode?: string;
  Filter?: Record<string, string[]>;
  NextToken?: string;
  MaxResults?: number;
}

const FILTERS = ["CUSTOMER_IDENTIFIER", "DIMENSION", "CUSTOMER_AWS_ACCOUNT_ID", "LICENSE_ARN"];
const bad = (message: string) => new ApiError("InvalidParameterException", message);

/** The entitlement service models only InvalidParameterException for bad input, so every check uses it. */
export function validateGetEntitlements(
  input: GetEntitlementsInput,
): Checked<GetEntitlementsInput, "ProductCode"> {
  if (!present(input, ["ProductCode"])) throw bad("ProductCode is required.");
  if (input.ProductCode.length < 1 || input.ProductCode.length > 255)
    throw bad("ProductCode must be 1-255 characters.");
  if (input.MaxResults !== undefined && (input.MaxResults < 1 || input.MaxResults > 25))
    throw bad("MaxResults must be between 1 and 25.");
  if (input.NextToken !== undefined && !/^\S+$/.test(input.NextToken)) throw bad("NextToken is invalid.");
  for (const [name, values] of Object.entries(input.Filter ?? {})) {
    if (!FILTERS.includes(name))
      throw bad(`Unknown filter '${name.slice(0, 64)}'; use one of ${FILTERS.join(", ")}.`);
    if (values.length < 1) throw bad(`Filter ${name} needs at least one value.`);
  }
  if (input.Filter?.CUSTOMER_IDENTIFIER && input.Filter.CUSTOMER_AWS_ACCOUNT_ID) {
    throw bad("CUSTOMER_IDENTIFIER and CUSTOMER_AWS_ACCOUNT_ID filters are mutually exclusive.");
  }
  return input;
}

export function getEntitlements(
  ctx: OpContext,
  input: Checked<GetEntitlementsInput, "ProductCode">,
): OpResult {
  const { state, now } = ctx;
  const product = state.products.get(input.ProductCode);
  if (!product || product.sellerAccountId !== state.sellerAccountId)
    throw bad(`Product code '${input.ProductCode}' is not valid for this seller.`);
  const f = input.Filter ?? {};
  const match = (values: string[] | undefined, v: string | undefined) =>
    !values || (v !== undefined && values.includes(v));
  const all = state.entitlements.filter(
    (e) =>
      e.productCode === product.productCode &&
      (e.expirationDate === undefined || e.expirationDate > now) &&
      match(f.CUSTOMER_IDENTIFIER, e.customerIdentifier) &&
      match(f.DIMENSION, e.dimension) &&
      match(f.CUSTOMER_AWS_ACCOUNT_ID, e.customerAWSAccountId) &&
      match(f.LICENSE_ARN, e.licenseArn),
  );
  // The page token binds the offset to the query so a token cannot be replayed against another filter.
  const query = createHash("sha256")
    .update(JSON.stringify([product.productCode, f]))
    .digest("hex")
    .slice(0, 16);
  let offset = 0;
  if (input.NextToken !== undefined) {
    const m = /^([0-9]+)\.([0-9a-f]{16})$/.exec(Buffer.from(input.NextToken, "base64url").toString("latin1"));
    if (!m || m[2] !== query) throw bad("NextToken is invalid or belongs to another query.");
    offset = Number(m[1]);
  }
  const size = input.MaxResults ?? 25;
  const page = all.slice(offset, offset + size);
  const output: Record<string, unknown> = {
    Entitlements: page.map((e) => ({
      ProductCode: e.productCode,
      Dimension: e.dimension,
      ...(e.customerIdentifier ? { CustomerIdentifier: e.customerIdentifier } : {}),
      ...(e.customerAWSAccountId ? { CustomerAWSAccountId: e.customerAWSAccountId } : {}),
      ...(e.licenseArn ? { LicenseArn: e.licenseArn } : {}),
      Value: e.value,
      ...(e.expirationDate !== undefined
        ? { ExpirationDate: new EpochSeconds(Math.floor(e.expirationDate / 1000)) }
        : {}),
    })),
  };
  if (offset + size < all.length)
    output.NextToken = Buffer.from(`${offset + size}.${query}`, "latin1").toString("base64url");
  return { output, summary: `${page.length} of ${all.length} entitlements` };
}
