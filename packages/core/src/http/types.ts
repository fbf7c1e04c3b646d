/**
 * What the HTTP layer needs of a marketplace, written structurally so an adapter accepts any object
 * that has these methods (the configured marketplace instance, or a test double built on `createBuyers`).
 */
import type { AccessDecision } from "../access/index.js";
import type { CustomerRecord, Registration } from "../directory/index.js";
import type { Identity, IdentityInput } from "../identity/index.js";
import type { AccessSubject, LifecycleOutcome } from "../lifecycle/index.js";
import type { IncomingRequest } from "../registration/index.js";
import type { Logger } from "../runtime/index.js";

/** A marketplace as the metering middleware uses it. `access` is needed only for tenant customers. */
export interface MeteringTarget {
  record(usage: { identity: IdentityInput | Identity; dimension: string; quantity: number }): void;
  access?(subject: AccessSubject): AccessDecision;
}

/** A marketplace as the access guard uses it. */
export interface AccessTarget {
  access(subject: AccessSubject): AccessDecision;
}

/** A marketplace as the fulfillment-URL route uses it. */
export interface RegistrationTarget {
  register(request: IncomingRequest): Promise<Registration>;
}

/** A marketplace as the lifecycle webhooks use it. */
export interface LifecycleTarget {
  handleEventBridge(eventOrRequest: unknown): Promise<LifecycleOutcome>;
  handleSns(requestOrMessage: unknown): Promise<LifecycleOutcome>;
}

/** A marketplace as shutdown wiring uses it. */
export interface ClosableTarget {
  close(): Promise<void>;
}

/** The seller's tenant, resolved to its billing identity through the customer directory. */
export interface TenantRef {
  tenantId: string;
  /** Narrows to one product when the tenant bought several. */
  productCode?: string;
}

/**
 * Who a request belongs to, as `getCustomer` returns it: a billing identity, a tenant (object or plain
 * string tenant id), or nothing (anonymous: not metered, and denied by the guard).
 */
export type CustomerRef = IdentityInput | Identity | TenantRef | string | undefined | null;

/** A response the adapters write as-is with their framework's native API. */
export interface HttpResult {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export type { AccessDecision, CustomerRecord, LifecycleOutcome, Logger, Registration };
