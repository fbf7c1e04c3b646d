/** Contract entitlements (GetEntitlements) with pagination, a TTL cache and refresh on notifications. */

export type { EntitlementsOptions } from "./entitlements.js";
export { activeEntitlements, EntitlementCache, entitlementFilter, toEntitlement } from "./entitlements.js";
