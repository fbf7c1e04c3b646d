/** The usage pipeline: checkpoint -> close -> claim -> send -> settle, the one owner of the usage store. */
export { UsagePipeline, within } from "./pipeline.js";
export type { PipelineStats, PipelineZeroRecords, UsagePipelineOptions } from "./pipeline.js";
