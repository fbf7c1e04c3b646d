// Front door of the reporter concern: batching, pacing, retrying and the typed events.

export type { BackoffOptions } from "./backoff.js";
export { backoffDelay } from "./backoff.js";
export type { Batch, PreparedRecord } from "./batch.js";
export {
  buildBatches,
  MAX_RECORDS_PER_CALL,
  MAX_REQUEST_BYTES,
  prepareRecord,
  recordKey,
  requestBytes,
  requestOf,
} from "./batch.js";
export type { ErrorClass } from "./classify.js";
export { classifyError, errorName } from "./classify.js";
export type { Emit, GrainInfo, MarketplaceEventName, MarketplaceEvents } from "./events.js";
export type { RateLimiterOptions } from "./limiter.js";
export { RateLimiter } from "./limiter.js";
export type { ReporterOptions, ReporterStats } from "./reporter.js";
export { grainInfo, Reporter } from "./reporter.js";
export type { SendResult, UsageSender } from "./sender.js";
export { awsSender, dryRunSender } from "./sender.js";
