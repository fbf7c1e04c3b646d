import { constants } from "node:os";
import { parseArgs } from "node:util";
import { demoConfig, type EmulatorConfig, loadConfig } from "./config.js";
import { isEmulatorError } from "./errors.js";
import { startEmulator } from "./server.js";

const HELP = `marketmeter-emulator: local AWS Marketplace Metering + Entitlement Service

Usage: marketmeter-emulator [options]

  --port <n>        port to listen on (0 = any free port)          default 4566
  --host <addr>     interface to bind                               default 127.0.0.1
  --config <file>   JSON config (products, licenses, customers, tokens, profile, faults, webhooks)
  --demo            load the built-in demo fixtures (merged under --config)
  --seed <n>        seed of the fault-injection PRNG                default 1
  --allow-remote    allow a non-loopback --host (the control API stays loopback-only)
  --quiet           do not log each API call
  -h, --help        show this help

Point a client at it, e.g.:
  aws meteringmarketplace resolve-customer --endpoint-url http://127.0.0.1:4566 --registration-token …
`;

const isLoopbackHost = (h: string) => h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);

async function main(argv: string[]): Promise<number> {
  let args: ReturnType<typeof parse>;
  function parse() {
    return parseArgs({
      args: argv,
      options: {
        port: { type: "string" },
        host: { type: "string" },
        config: { type: "string" },
        seed: { type: "string" },
        demo: { type: "boolean" },
        "allow-remote": { type: "boolean" },
        quiet: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    });
  }
  try {
    args = parse();
  } catch (err) {
    process.stderr.write(`marketmeter-emulator: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const v = args.values;
  if (v.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const port = v.port === undefined ? 4566 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    process.stderr.write(`marketmeter-emulator: --port must be an integer 0-65535\n`);
    return 2;
  }
  const host = v.host ?? "127.0.0.1";
  if (!isLoopbackHost(host) && !v["allow-remote"]) {
    process.stderr.write(
      `marketmeter-emulator: refusing --host ${host}: the emulator has no authentication and accepts billing data from anyone who can reach it. Pass --allow-remote if you really want that.\n`,
    );
    return 2;
  }
  const seed = v.seed === undefined ? undefined : Number(v.seed);
  if (seed !== undefined && !Number.isInteger(seed)) {
    process.stderr.write(`marketmeter-emulator: --seed must be an integer\n`);
    return 2;
  }
  let config: EmulatorConfig = {};
  try {
    const fromFile = v.config ? loadConfig(v.config) : {};
    if (v.demo) {
      // A live demo runs on real time, so fixtures are placed relative to now.
      const demo = demoConfig({ now: new Date(), setClock: false });
      const merge = <T>(a?: T[], b?: T[]) => [...(a ?? []), ...(b ?? [])];
      config = {
        ...demo,
        ...fromFile,
        products: merge(demo.products, fromFile.products),
        licenses: merge(demo.licenses, fromFile.licenses),
        customers: merge(demo.customers, fromFile.customers),
        entitlements: merge(demo.entitlements, fromFile.entitlements),
        tokens: merge(demo.tokens, fromFile.tokens),
      };
    } else config = fromFile;
  } catch (err) {
    process.stderr.write(`marketmeter-emulator: ${(err as Error).message}\n`);
    return 2;
  }
  const out = (line: string) => process.stdout.write(`${line}\n`);
  let emulator: Awaited<ReturnType<typeof startEmulator>>;
  try {
    emulator = await startEmulator({ port, host, config, seed, log: v.quiet ? undefined : out });
  } catch (err) {
    const inUse = (err as { cause?: { code?: unknown } })?.cause?.code === "EADDRINUSE";
    process.stderr.write(
      inUse
        ? `marketmeter-emulator: port ${port} is in use; pass --port <a free port> (or --port 0 for any free port)\n`
        : `marketmeter-emulator: ${isEmulatorError(err) ? err.message : String(err)}\n`,
    );
    return 1;
  }
  // Ctrl-C under `pnpm start` delivers SIGINT twice (the terminal's and pnpm's): the listener stays for
  // the whole shutdown, so a repeat is ignored; a third signal forces exit. It is installed before the
  // ready lines are printed, so a signal sent as soon as they appear never meets Node's default action.
  let received = 0;
  let stopped: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    stopped = resolve;
  });
  const onSignal = (signal: NodeJS.Signals) => {
    received += 1;
    if (received === 1) {
      out(`received ${signal}, shutting down`);
      void emulator.close().then(stopped);
    } else if (received === 2) {
      process.stderr.write(
        `marketmeter-emulator: received ${signal} again; shutdown is in progress. Send it once more to force exit.\n`,
      );
    } else {
      process.stderr.write(`marketmeter-emulator: received ${signal} a third time; forced exit\n`);
      process.exit(128 + (constants.signals[signal] ?? 0));
    }
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  out(`marketmeter-emulator listening on ${emulator.endpoint}`);
  out(`billing page: ${emulator.endpoint}/_emulator/`);
  out(`control API:  ${emulator.endpoint}/_emulator/health`);
  if (v.demo)
    out(
      `demo fixtures loaded (seller ${emulator.state.sellerAccountId}); tokens: GET ${emulator.endpoint}/_emulator/buyers`,
    );
  await done;
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`marketmeter-emulator: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
