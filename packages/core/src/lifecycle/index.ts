/** Buyer lifecycle: the `createBuyers` factory and the EventBridge / SNS notification handling. */
export { createBuyers } from "./buyers.js";
export type { AccessSubject, BuyerProduct, Buyers, BuyersOptions } from "./buyers.js";
export { parseEventBridgeEvent, parseSnsNotification, normalizeLicenseArn, EVENT_SOURCE } from "./events.js";
export type { IgnoredNotification, LifecycleAction, LifecycleEvent } from "./events.js";
export { LifecycleProcessor } from "./processor.js";
export type { LifecycleOutcome, ProductInfo, ProcessorOptions } from "./processor.js";
export { secretsMatch } from "./handlers.js";
