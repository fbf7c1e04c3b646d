/** Buyer lifecycle: the `createBuyers` factory and the EventBridge / SNS notification handling. */

export type { AccessSubject, BuyerProduct, Buyers, BuyersOptions } from "./buyers.js";
export { createBuyers } from "./buyers.js";
export type { IgnoredNotification, LifecycleAction, LifecycleEvent } from "./events.js";
export { EVENT_SOURCE, normalizeLicenseArn, parseEventBridgeEvent, parseSnsNotification } from "./events.js";
export { secretsMatch } from "./handlers.js";
export type { LifecycleOutcome, ProcessorOptions, ProductInfo } from "./processor.js";
export { LifecycleProcessor } from "./processor.js";
