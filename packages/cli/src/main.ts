/** The command runner: parses the command line, runs one command, maps every outcome to an exit code. */
import { parseArgs } from "node:util";
import { isMarketplaceError } from "@marketmeter/core";
import type { CommandContext } from "./commands/context.js";
import { doctor } from "./commands/doctor.js";
import { retry, send } from "./commands/send.js";
import { status } from "./commands/status.js";
import { usage } from "./commands/usage.js";
import { type CliConfig, loadConfig } from "./config.js";
import { CliError, EXIT, type ExitCode } from "./errors.js";
import type { Out } from "./output.js";
import { parseDate, parseDuration } from "./parse.js";
import { type OpenedStore, openStore, parseStoreSpec } from "./store.js";

type Option = { type: "string" | "boolean"; short?: string };
const COMMON: Record<string, Option> = {
  store: { type: "string" },
  schema: { type: "string" },
  "key-prefix": { type: "string" },
  json: { type: "boolean" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
};
const AWS: Record<string, Option> = { config: { type: "string" }, endpoint: { type: "string" } };

const COMMANDS: Record<
  string,
  { run: (ctx: CommandContext) => Promise<ExitCode>; options: Record<string, Option>; help: string }
> = {
  status: {
    run: status,
    options: { since: { type: "string" }, within: { type: "string" }, at: { type: "string" } },
    help: `marketmeter status [--since 24h] [--within 3h] [--at <date>]
  Grains by state and age, the oldest unsent grain against its AWS deadline, rejections, expirations,
  uncertain grains and throttling in the last --since, and store reachability.
  Exit 1 when an unsent grain is within --within of its deadline, or something was rejected, expired
  or left uncertain in the last --since. --at evaluates as of another time ("will anything expire tonight?").`,
  },
  usage: {
    run: usage,
    options: {
      customer: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      dimension: { type: "string" },
      format: { type: "string" },
    },
    help: `marketmeter usage --customer <account|license|id> --from <date> [--to <date>] [--dimension <name>] [--format table|csv|json]
  Per hour: recorded, sent, MeteringRecordId, state and reason. --to defaults to now; hours are UTC.
  Exit 1 when the customer is not in the store.`,
  },
  send: {
    run: send,
    options: { ...AWS, "dry-run": { type: "boolean" } },
    help: `marketmeter send [--dry-run] [--config marketmeter.config.json] [--endpoint <url>]
  Runs one reporting cycle: closes final hours and sends what is due now, paced and under leases, as the
  app would. --dry-run lists what would be sent without changing anything. Exit 1 when a grain was
  rejected, expired, left uncertain or is retrying.`,
  },
  retry: {
    run: retry,
    options: { ...AWS, "dry-run": { type: "boolean" } },
    help: `marketmeter retry [--dry-run] [--config …] [--endpoint <url>]
  Releases the leases of instances that died while sending (their grains become uncertain, as AWS may
  have them), then runs a reporting cycle: retrying grains whose back-off has passed are sent now.`,
  },
  doctor: {
    run: doctor,
    options: { ...AWS },
    help: `marketmeter doctor [--config …] [--endpoint <url>]
  Checks credentials and their source, Region, clock skew, IAM permissions, product codes, dimensions
  and the webhook secret (and the store, when one is given). Exit 1 when a check fails.`,
  },
};

export const HELP = `Usage: marketmeter <command> [options]

Commands:
  status   is everything being sent; is anything at risk
  usage    usage of one customer by dimension and hour (audit export)
  send     send what is due now
  retry    release dead instances' leases, then send what is due
  doctor   check the AWS setup from here

Common options:
  --store <path|postgres://…|redis://…>   the store (or MARKETMETER_STORE); redis+cluster://host:port
                                          for a Redis Cluster (through one seed node)
  --schema <name>                          PostgreSQL schema of the tables (default marketmeter)
  --key-prefix <prefix>                    Redis key prefix, as the app's redisStore has it
  --json                                   machine-readable output on stdout
  --timeout <duration>                     deadline of store and network operations (default 10s)
  --config <file>                          product configuration (send, retry, doctor; or
                                           MARKETMETER_CONFIG, or ./marketmeter.config.json)
  --endpoint <url>                         AWS endpoint override, e.g. the emulator (or AWS_ENDPOINT_URL)

Exit codes: 0 ok, 1 at risk / check failed / not found, 2 usage error, 3 store unreachable, 4 internal error.
Run "marketmeter <command> --help" for a command's options.
`;

export interface RunOptions {
  env: NodeJS.ProcessEnv;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

export async function main(argv: readonly string[], io: RunOptions): Promise<ExitCode> {
  const json = argv.includes("--json");
  const out: Out = { write: io.stdout, note: io.stderr };
  let opened: OpenedStore | undefined;
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      io.stdout(HELP);
      return name === undefined ? EXIT.USAGE : EXIT.OK;
    }
    const command = COMMANDS[name];
    if (!command)
      throw new CliError(
        "USAGE",
        `unknown command ${JSON.stringify(name)} (commands: ${Object.keys(COMMANDS).join(", ")})`,
      );
    let values: Record<string, string | boolean | undefined>;
    try {
      ({ values } = parseArgs({
        args: joinRelativeDates(rest, { ...COMMON, ...command.options }),
        options: { ...COMMON, ...command.options },
        strict: true,
        allowPositionals: false,
      }));
    } catch (err) {
      throw new CliError("USAGE", `${name}: ${(err as Error).message}`);
    }
    if (values.help) {
      io.stdout(`${command.help}\n`);
      return EXIT.OK;
    }
    const str = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
    const duration = (k: string, fallback: string) => parseDuration(str(k) ?? fallback, `--${k}`);
    const now = Date.now();
    const timeoutMs = duration("timeout", "10s");
    if (timeoutMs < 100) throw new CliError("INVALID_DURATION", "--timeout must be at least 100ms");
    const at = str("at") === undefined ? now : parseDate(str("at") as string, now, "--at");
    let config: CliConfig | undefined | null = null;
    const maybeConfig = () => {
      if (config === null) config = loadConfig(str("config"), io.env);
      return config;
    };
    const ctx: CommandContext = {
      json,
      out,
      at,
      env: io.env,
      timeoutMs,
      string: str,
      flag: (k) => values[k] === true,
      duration,
      async openStore() {
        if (!opened)
          opened = await openStore(parseStoreSpec(str("store") ?? io.env.MARKETMETER_STORE), {
            timeoutMs,
            ...(str("schema") !== undefined ? { schema: str("schema") as string } : {}),
            ...(str("key-prefix") !== undefined ? { keyPrefix: str("key-prefix") as string } : {}),
            onWarning: (m) => io.stderr(`marketmeter: warning: ${m}\n`),
          });
        return opened;
      },
      maybeConfig,
      config() {
        const c = maybeConfig();
        if (!c)
          throw new CliError(
            "INVALID_CONFIG",
            `${name} needs the product configuration: pass --config marketmeter.config.json, set MARKETMETER_CONFIG, or set MARKETMETER_PRODUCT_CODE and MARKETMETER_DIMENSIONS`,
          );
        return c;
      },
      endpoint: (c) => str("endpoint") ?? c?.endpoint ?? (io.env.AWS_ENDPOINT_URL || undefined),
    };
    return await command.run(ctx);
  } catch (err) {
    const e = asCliError(err);
    if (json) io.stdout(`${JSON.stringify({ ok: false, error: { code: e.code, message: e.message } })}\n`);
    io.stderr(`marketmeter: ${e.message}\n`);
    if (e.exitCode === EXIT.USAGE && e.code === "USAGE") io.stderr('Run "marketmeter --help" for usage.\n');
    return e.exitCode;
  } finally {
    // send/retry already closed it through the marketplace; a second close is harmless to ignore.
    await opened?.store.close().catch(() => {});
  }
}

/**
 * `--from -24h` reads naturally but parseArgs takes "-24h" for an option: glue a value that starts with a
 * minus and a digit to its string option (`--from=-24h`).
 */
export function joinRelativeDates(args: readonly string[], options: Record<string, Option>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    const next = args[i + 1];
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    if (name && options[name]?.type === "string" && next !== undefined && /^-\d/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

function asCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (isMarketplaceError(err, "STORE_ERROR"))
    return new CliError("STORE_UNREACHABLE", (err as Error).message, { cause: err });
  return new CliError(
    "INTERNAL",
    `internal error (please report it): ${(err as Error)?.stack ?? String(err)}`,
    {
      cause: err,
    },
  );
}
