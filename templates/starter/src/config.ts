// Configuration comes from the environment here, in the app; marketmeter itself never reads it.
import type { StartAppOptions } from "./app.js";
import { type DeploymentSettings, PortInUseError } from "./marketplace.js";
import type { SharedStoreSettings } from "./stores.js";

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new Error(`${name} must be a port number (0-65535); got "${raw}"`);
  return n;
}

const MODES = ["saas", "container", "ami", "agentcore"] as const;
const PLATFORMS = ["ec2", "ecs", "eks", "fargate", "agentcore"] as const;

/**
 * `MARKETMETER_MODE`: saas (default), container, ami or agentcore; `MARKETMETER_DEPLOYMENT_ID` (else
 * `HOSTNAME`, the pod name on EKS) names this task or instance; `MARKETMETER_PLATFORM` tells the emulator
 * which platform it runs on.
 */
function readDeployment(env: NodeJS.ProcessEnv): DeploymentSettings | undefined {
  const mode = env.MARKETMETER_MODE || "saas";
  if (!(MODES as readonly string[]).includes(mode))
    throw new Error(`MARKETMETER_MODE must be one of ${MODES.join(", ")}; got "${mode}"`);
  if (mode === "saas") return undefined;
  const platform = env.MARKETMETER_PLATFORM || undefined;
  if (platform !== undefined && !(PLATFORMS as readonly string[]).includes(platform))
    throw new Error(`MARKETMETER_PLATFORM must be one of ${PLATFORMS.join(", ")}; got "${platform}"`);
  const id = env.MARKETMETER_DEPLOYMENT_ID || env.HOSTNAME || undefined;
  return {
    mode: mode as DeploymentSettings["mode"],
    ...(id ? { id } : {}),
    ...(platform ? { platform: platform as DeploymentSettings["platform"] } : {}),
  };
}

/**
 * Reads the app's settings. Setting `MARKETMETER_PRODUCT_CODE` switches to real AWS and then requires
 * `AWS_REGION` (and warns without `MARKETMETER_WEBHOOK_SECRET`); without it the app runs against the
 * local emulator. `MARKETMETER_ADMIN_TOKEN` opens the seller's usage page to `Authorization: Bearer
 * <token>`; without it the page is served to this machine only in the demo, and not at all on AWS.
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): StartAppOptions {
  const adminToken = env.MARKETMETER_ADMIN_TOKEN || undefined;
  if (adminToken !== undefined && adminToken.length < 16)
    throw new Error("MARKETMETER_ADMIN_TOKEN must be at least 16 characters");
  const store = sharedStore(env);
  const base: StartAppOptions = {
    port: int(env, "PORT", 3000),
    host: env.HOST || "127.0.0.1",
    dataDir: env.MARKETMETER_DATA_DIR || ".marketmeter",
    ...(adminToken ? { adminToken } : {}),
    ...(store ? { store } : {}),
  };
  const productCode = env.MARKETMETER_PRODUCT_CODE;
  const deployment = readDeployment(env);
  const mode = deployment ? { deployment } : {};
  if (!productCode) {
    const join = env.MARKETMETER_EMULATOR_URL || undefined;
    if (join !== undefined && !store)
      throw new Error(
        "MARKETMETER_EMULATOR_URL joins another instance: also set DATABASE_URL or REDIS_URL to the store it uses",
      );
    return {
      ...base,
      emulator:
        join !== undefined
          ? { url: join, ...mode }
          : { port: int(env, "MARKETMETER_EMULATOR_PORT", 4566), ...mode },
    };
  }
  if (!env.AWS_REGION)
    throw new Error("MARKETMETER_PRODUCT_CODE is set, so real AWS is used: also set AWS_REGION");
  const webhookSecret = env.MARKETMETER_WEBHOOK_SECRET || undefined;
  if (webhookSecret !== undefined && webhookSecret.length < 16)
    throw new Error("MARKETMETER_WEBHOOK_SECRET must be at least 16 characters");
  return { ...base, aws: { region: env.AWS_REGION, productCode, webhookSecret, ...mode } };
}

/**
 * Many instances: `DATABASE_URL` (PostgreSQL) or `REDIS_URL` (Redis; `redis+cluster://` for a Redis
 * Cluster) puts usage and buyers in a store that every instance shares. Without either, each instance keeps SQLite files in its data folder.
 */
function sharedStore(env: NodeJS.ProcessEnv): SharedStoreSettings | undefined {
  const database = env.DATABASE_URL || undefined;
  const redis = env.REDIS_URL || undefined;
  if (database !== undefined && redis !== undefined)
    throw new Error("DATABASE_URL and REDIS_URL are both set: choose one shared store");
  if (database !== undefined) {
    if (!/^postgres(ql)?:\/\//.test(database))
      throw new Error("DATABASE_URL must be a PostgreSQL URL (postgres://user:password@host:5432/db)");
    return { kind: "postgres", url: database };
  }
  if (redis !== undefined) {
    const scheme = /^(rediss?)(\+cluster)?:\/\//i.exec(redis);
    if (!scheme)
      throw new Error(
        "REDIS_URL must be a Redis URL (redis://host:6379/0, or redis+cluster://host:6379 for a Redis Cluster)",
      );
    // redis+cluster://: a seed node of a Redis Cluster, as the marketmeter CLI takes it.
    if (scheme[2])
      return {
        kind: "redis",
        url: `${scheme[1]?.toLowerCase()}${redis.slice(scheme[0].length - 3)}`,
        cluster: true,
      };
    return { kind: "redis", url: redis };
  }
  return undefined;
}

/** What start-up must shout about: settings that leave the app running but losing buyers' events. */
export function startupWarnings(options: StartAppOptions): string[] {
  if (!options.aws || options.aws.webhookSecret || options.aws.deployment) return [];
  return [
    [
      "WARNING: MARKETMETER_WEBHOOK_SECRET is not set.",
      "  Every EventBridge notification to POST /marketplace/events is refused (401), so subscriptions,",
      "  cancellations and license changes sent through EventBridge never reach this app.",
      "  Set MARKETMETER_WEBHOOK_SECRET (at least 16 characters) and send the same value from your",
      "  EventBridge API destination in the x-marketmeter-webhook-secret header.",
    ].join("\n"),
  ];
}

/** One line for a start-up failure; a busy port names the variable that moves it. */
export function startupError(err: unknown): string {
  if (err instanceof PortInUseError)
    return err.server === "app"
      ? `port ${err.port} is in use; set PORT=<a free port> (or PORT=0 for any free port)`
      : `port ${err.port} (the AWS Marketplace emulator) is in use; set MARKETMETER_EMULATOR_PORT=<a free port> (or MARKETMETER_EMULATOR_PORT=0 for any free port)`;
  return err instanceof Error ? err.message : String(err);
}
