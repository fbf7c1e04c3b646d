// Front door of the usage concern: recording into hour grains, tags/allocations and the time window.

export type { AccumulatorOptions, UsageInput } from "./accumulator.js";
export { Accumulator } from "./accumulator.js";
export type { Allocation, Tags } from "./tags.js";
export { MAX_ALLOCATIONS, MAX_TAGS, parseAllocations, tagSetKey, tagsFromKey } from "./tags.js";
export { acceptanceDeadline, isAcceptable, WINDOW_MS } from "./window.js";
