/** What every command gets: its parsed options, the output, the time, the store and the config. */
import type { CliConfig } from "../config.js";
import type { Out } from "../output.js";
import type { OpenedStore } from "../store.js";

export interface CommandContext {
  readonly json: boolean;
  readonly out: Out;
  /** The time the command evaluates at (`--at`, default now), epoch ms. */
  readonly at: number;
  readonly env: NodeJS.ProcessEnv;
  /** A string option's value, if given. */
  string(name: string): string | undefined;
  flag(name: string): boolean;
  /** A duration option (`--since 6h`) in ms, with its default. */
  duration(name: string, fallback: string): number;
  /** Opens `--store` (once); closed by the runner when the command ends. */
  openStore(): Promise<OpenedStore>;
  /** The product configuration, or a usage error naming the ways to give it. */
  config(): CliConfig;
  /** The configuration if one is given anywhere, without failing. */
  maybeConfig(): CliConfig | undefined;
  /** The endpoint (`--endpoint`, config `endpoint`, `AWS_ENDPOINT_URL`), if any. */
  endpoint(config: CliConfig | undefined): string | undefined;
  /** Deadline of one store or network operation (`--timeout`). */
  readonly timeoutMs: number;
}
