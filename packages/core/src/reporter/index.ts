// Front door of the reporter concern: batching, pacing, retrying and the typed events.
export { Reporter, grainInfo } from "./reporter.js";
export type { ReporterOptions, ReporterStats } from "./reporter.js";
export { awsSender, dryRunSender } from "./sender.js";
export type { SendResult, UsageSender } from "./sender.js";
export { RateLimiter } from "./limiter.js";
export type { RateLimiterOptions } from "./limiter.js";
export { backoffDelay } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { classifyError } from "./classify.js";
export type { ErrorClass } from "./classify.js";
export {
  MAX_RECORDS_PER_CALL,
  MAX_REQUEST_BYTES,
  buildBatches,
  prepareRecord,
  recordKey,
  requestBytes,
  requestOf,
} from "./batch.js";
export type { Batch, PreparedRecord } from "./batch.js";
export type { Emit, GrainInfo, MarketplaceEventName, MarketplaceEvents } from "./events.js";
