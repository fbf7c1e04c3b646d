// Configuration comes from the environment here, in the app; marketmeter itself never reads it.
import type { StartAppOptions } from "./app.js";

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number (0-65535); got "${raw}"`);
  return n;
}

/**
 * Reads the app's settings. Setting `MARKETMETER_PRODUCT_CODE` switches to real AWS and then requires
 * `AWS_REGION` and `MARKETMETER_WEBHOOK_SECRET`; without it the app runs against the local emulator.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): StartAppOptions {
  const base: StartAppOptions = {
    port: int(env, "PORT", 3000),
    host: env.HOST || "127.0.0.1",
    dataDir: env.MARKETMETER_DATA_DIR || ".marketmeter",
  };
  const productCode = env.MARKETMETER_PRODUCT_CODE;
  if (!productCode) return { ...base, emulator: { port: int(env, "MARKETMETER_EMULATOR_PORT", 4566) } };
  const missing = ["AWS_REGION", "MARKETMETER_WEBHOOK_SECRET"].filter((name) => !env[name]);
  if (missing.length > 0)
    throw new Error(
      `MARKETMETER_PRODUCT_CODE is set, so real AWS is used: also set ${missing.join(" and ")}`,
    );
  const webhookSecret = env.MARKETMETER_WEBHOOK_SECRET!;
  if (webhookSecret.length < 16) throw new Error("MARKETMETER_WEBHOOK_SECRET must be at least 16 characters");
  return { ...base, aws: { region: env.AWS_REGION!, productCode, webhookSecret } };
}
