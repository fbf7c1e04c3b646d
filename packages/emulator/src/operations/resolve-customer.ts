import { createHash } from "node:crypto";
import { ApiError } from "../errors.js";
import { type Checked, Violations } from "../wire/shapes.js";
import type { OpContext, OpResult } from "./context.js";

export interface ResolveCustomerInput {
  RegistrationToken?: string;
}

export function validateResolveCustomer(
  input: ResolveCustomerInput,
): Checked<ResolveCustomerInput, "RegistrationToken"> {
  const v = new Violations();
  if (input.RegistrationToken === undefined) v.required("registrationToken");
  else if (input.RegistrationToken.length === 0) {
    v.add("", "registrationToken", "Member must satisfy regular expression pattern: ^[\\s\\S]+$");
  }
  return v.checked(input, ["RegistrationToken"]);
}

/** Short, non-reversible name of a token for logs (tokens are credentials of a sort: never log them). */
export const tokenHash = (token: string): string =>
  `token#${createHash("sha256").update(token).digest("hex").slice(0, 8)}`;

export function resolveCustomer(
  ctx: OpContext,
  input: Checked<ResolveCustomerInput, "RegistrationToken">,
): OpResult {
  const { state, now } = ctx;
  const token = input.RegistrationToken;
  const t = state.tokens.get(token);
  const product = t && state.products.get(t.productCode);
  // A token of another seller's product does not resolve for this caller.
  if (!t || !product || product.sellerAccountId !== state.sellerAccountId) {
    throw new ApiError("InvalidTokenException", "Registration token is invalid.");
  }
  if (now - t.issuedAt >= state.profile.tokenLifetimeMs) {
    throw new ApiError("ExpiredTokenException", "Registration token has expired.");
  }
  const output: Record<string, unknown> = {};
  if (t.customerIdentifier) output.CustomerIdentifier = t.customerIdentifier;
  output.ProductCode = t.productCode;
  output.CustomerAWSAccountId = t.customerAWSAccountId;
  if (t.licenseArn) output.LicenseArn = t.licenseArn;
  return {
    output,
    summary: `${tokenHash(token)} → ${t.customerAWSAccountId}${t.customerIdentifier ? ` (${t.customerIdentifier})` : ""}`,
  };
}
