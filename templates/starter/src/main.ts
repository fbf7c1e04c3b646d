// The CLI: `pnpm start` (or `node dist/main.js`). Reads the environment, starts the app, prints where to
// go, and on Ctrl-C / SIGTERM stops cleanly so that no recorded usage is lost.
import { closeOnShutdown, type Logger } from "{{adapter}}";
import { startApp } from "./app.js";
import { readConfig, startupError, startupWarnings } from "./config.js";
import { ROUTES } from "./marketplace.js";

/** Shutdown lines go to the terminal as plain text. */
const screen: Logger = {
  debug() {},
  info: (_obj, msg) => console.log(msg),
  warn: (_obj, msg) => console.error(msg),
  error: (_obj, msg) => console.error(msg),
};

async function main(): Promise<void> {
  const config = readConfig();
  for (const warning of startupWarnings(config)) console.error(`\n${warning}\n`);
  if (!config.aws) {
    // Emulator mode on Node 20: the AWS SDK's notice about future Node versions is noise for a local demo.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    config.emulator = { ...config.emulator, log: (line) => console.log(`emulator: ${line}`) };
  }
  const app = await startApp(config);
  // Ctrl-C under `pnpm start` delivers SIGINT twice (the terminal's and pnpm's): the second is ignored
  // while the due usage is sent, a third forces exit. Exit code 0 after a clean stop keeps pnpm quiet.
  const stopping = {
    async close() {
      await app.close();
      console.log("Stopped: the usage that was due is sent and the stores are closed.");
    },
  };
  // Installed before the banner: a Ctrl-C right after it is already handled.
  closeOnShutdown(undefined, stopping, { exit: "code", logger: screen });
  const joined = config.emulator?.url;
  const lines = joined
    ? [
        "{{name}} is running as another instance in emulator mode (it serves the API; the demo page is on",
        "the instance that started the emulator):",
        `  app:              ${app.url}/`,
        `  AWS endpoint:     ${joined} (the emulator it joined)`,
      ]
    : app.emulator
      ? [
          "{{name}} is running in emulator mode (no AWS account needed, nothing leaves this machine):",
          `  app:              ${app.url}/`,
          `  demo walkthrough: ${app.url}/demo`,
          `  billing page:     ${app.emulator.endpoint}/_emulator/`,
          `  AWS endpoint:     ${app.emulator.endpoint} (the emulator)`,
        ]
      : [
          `{{name}} is running against AWS Marketplace in ${config.aws?.region ?? "(no region set)"}:`,
          `  app:              ${app.url}/`,
          `  fulfillment URL:  <your public URL>${ROUTES.register}`,
          `  EventBridge:      <your public URL>${ROUTES.eventBridge}`,
          `  SNS:              <your public URL>${ROUTES.sns}`,
        ];
  console.log(`${lines.join("\n")}\nPress Ctrl-C to stop.`);
}

main().catch((err: unknown) => {
  console.error(`{{name}} could not start: ${startupError(err)}`);
  process.exit(1);
});
