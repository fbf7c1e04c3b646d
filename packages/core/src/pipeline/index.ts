/** The usage pipeline: checkpoint -> close -> claim -> send -> settle, the one owner of the usage store. */

export type { PipelineStats, PipelineZeroRecords, UsagePipelineOptions } from "./pipeline.js";
export { UsagePipeline, within } from "./pipeline.js";
