/** Contract entitlements (GetEntitlements) with pagination, a TTL cache and refresh on notifications. */
export { EntitlementCache, activeEntitlements, entitlementFilter, toEntitlement } from "./entitlements.js";
export type { EntitlementsOptions } from "./entitlements.js";
