/** Turning what `getCustomer` returned into a billing identity or an access subject. */
import { MarketplaceError } from "../errors/index.js";
import type { Identity, IdentityInput } from "../identity/index.js";
import type { AccessSubject } from "../lifecycle/index.js";
import type { CustomerRef, TenantRef } from "./types.js";

/** The access subject of a customer reference, or undefined for an anonymous request. */
export function subjectOf(customer: CustomerRef): AccessSubject | undefined {
  if (customer === undefined || customer === null) return undefined;
  if (typeof customer === "string") {
    if (customer === "") return undefined;
    return { tenantId: customer };
  }
  if (typeof customer !== "object")
    throw new MarketplaceError(
      "INVALID_ARGUMENT",
      "getCustomer must return an identity, { tenantId }, a tenant id string or undefined",
    );
  return customer as AccessSubject;
}

/** True for `{ tenantId }` subjects. */
export function isTenant(subject: AccessSubject): subject is TenantRef {
  return typeof (subject as { tenantId?: unknown }).tenantId === "string";
}

export type { Identity, IdentityInput };
