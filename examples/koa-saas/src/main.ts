// The CLI: `pnpm start` (or `node dist/main.js`). Reads the environment, starts the app, prints where to
// go, and on Ctrl-C / SIGTERM stops cleanly so that no recorded usage is lost.
import { startApp } from "./app.js";
import { readConfig } from "./config.js";
import { ROUTES } from "./marketplace.js";

try {
  const config = readConfig();
  if (!config.aws) {
    // Emulator mode on Node 20: the AWS SDK's notice about future Node versions is noise for a local demo.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    config.emulator = { ...config.emulator, log: (line) => console.log(`emulator: ${line}`) };
  }
  const app = await startApp(config);
  const lines = app.emulator
    ? [
        "koa-saas is running in emulator mode (no AWS account needed, nothing leaves this machine):",
        `  app:              ${app.url}/`,
        `  demo walkthrough: ${app.url}/demo`,
        `  billing page:     ${app.emulator.endpoint}/_emulator/`,
        `  AWS endpoint:     ${app.emulator.endpoint} (the emulator)`,
      ]
    : [
        `koa-saas is running against AWS Marketplace in ${config.aws!.region}:`,
        `  app:              ${app.url}/`,
        `  fulfillment URL:  <your public URL>${ROUTES.register}`,
        `  EventBridge:      <your public URL>${ROUTES.eventBridge}`,
        `  SNS:              <your public URL>${ROUTES.sns}`,
      ];
  console.log(`${lines.join("\n")}\nPress Ctrl-C to stop.`);

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      console.log(`\n${signal}: stopping (sending usage that is due, closing the stores)…`);
      app.close().then(
        () => process.exit(0),
        (err: unknown) => {
          console.error(err);
          process.exit(1);
        },
      );
    });
  }
} catch (err) {
  console.error(`koa-saas could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
