// Entry point `@marketmeter/core/testing`: helpers for people who write stores.
export { storeConformance } from "./stores/conformance.js";
export type { StoreConformanceTarget } from "./stores/conformance.js";
export { directoryStoreConformance, sampleCustomer, sampleRegistration } from "./directory/conformance.js";
