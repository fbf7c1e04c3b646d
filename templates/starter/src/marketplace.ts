// The marketplace instance: what is billed (dimensions), where usage and buyers are kept, and whether it
// talks to AWS or to the local emulator. Nothing here depends on the web framework.
import { randomBytes } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Emulator } from "@marketmeter/emulator";
import { createDeployment, createMarketplace, type Logger, type Marketplace } from "{{adapter}}";
import { sqliteDirectoryStore, sqliteStore } from "@marketmeter/sqlite";
import { openSharedStores, type SharedStoreSettings } from "./stores.js";

/**
 * The dimensions of your listing, spelled exactly as in the AWS Marketplace Management Portal.
 * `api_calls`: one per successful `GET /api/quotes`; `report_rows`: rows returned by `GET /api/reports`.
 */
export const DIMENSIONS = ["api_calls", "report_rows"] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** An hour is final (and sent) this long after it ends, so late requests still land in it. */
export const GRACE_PERIOD_MS = 5 * 60_000;

/** Where AWS Marketplace (or the emulator) reaches this app. */
export const ROUTES = {
  register: "/marketplace/register",
  signUp: "/signup",
  /** Where sign-up redirects (303) to show the API key, so a reload does not post the form again. */
  signUpDone: "/signup/done",
  eventBridge: "/marketplace/events",
  sns: "/marketplace/sns",
  /** The seller's usage page (every customer; see admin.ts for who may open it). */
  usagePage: "/admin/usage",
  /** A buyer's own usage (API key → tenant → their usage only), JSON or `?format=html`. */
  buyerUsage: "/account/usage",
} as const;

/**
 * How the product is sold. SaaS (the default): buyers register through the fulfillment URL and each API
 * key is a tenant. Container, AMI or AgentCore: the app runs in the buyer's account, so every request is
 * that buyer's, and start-up checks the entitlement (RegisterUsage for containers) before serving.
 */
export interface DeploymentSettings {
  mode: "container" | "ami" | "agentcore";
  /** A stable id of this task, pod, instance or agent (same across restarts). @default "{{name}}" */
  id?: string;
  /** Emulator only: the platform the emulator sees. @default ecs, ec2 or agentcore by mode */
  platform?: "ec2" | "ecs" | "eks" | "fargate" | "agentcore";
}

/** Real AWS settings; without them the app runs against the in-process emulator. */
export interface AwsSettings {
  region: string;
  productCode: string;
  /** Container, AMI or AgentCore product instead of SaaS. */
  deployment?: DeploymentSettings;
  /**
   * Shared secret your EventBridge API destination sends (at least 16 characters). Without it every
   * EventBridge notification is refused (401).
   */
  webhookSecret?: string;
}

/** Emulator-mode settings. */
export interface EmulatorSettings {
  /** @default 0 (any free port) */
  port?: number;
  /** Emulator time at start (the demo buyers are placed around it). @default now */
  now?: Date | string | number;
  /** Stop the emulator clock (tests). @default false */
  frozen?: boolean;
  /** Receives one line per AWS API call the emulator answers (tokens are never logged). */
  log?: (line: string) => void;
  /** Container, AMI or AgentCore product instead of SaaS. */
  deployment?: DeploymentSettings;
  /**
   * Join an emulator another instance of this app already started (its loopback URL) instead of starting
   * one: several instances then meter to one emulator, with its clock. The joining instance serves the
   * API only; the demo page is on the instance that started the emulator.
   */
  url?: string;
}

const DEFAULT_PLATFORM = { container: "ecs", ami: "ec2", agentcore: "agentcore" } as const;

/** A server could not listen because its port is taken; the CLI names the variable that moves it. */
export class PortInUseError extends Error {
  constructor(
    readonly server: "app" | "emulator",
    readonly port: number,
    options?: { cause?: unknown },
  ) {
    super(`port ${port} is in use`, options);
    this.name = "PortInUseError";
  }
}

/** True when `err` (or an error it wraps, as the emulator does) is a listen() EADDRINUSE. */
export function isAddressInUse(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++)
    if ((e as { code?: unknown }).code === "EADDRINUSE") return true;
  return false;
}

export interface MarketplaceSetup {
  marketplace: Marketplace<Dimension>;
  /**
   * `saas`: each API key is a tenant. Container, AMI or AgentCore: the buyer is the deployment, so the
   * API asks no API key and access follows the entitlement AWS confirmed at start.
   */
  mode: "saas" | DeploymentSettings["mode"];
  productCode: string;
  /** Only in emulator mode. */
  emulator: Emulator | undefined;
  /** The folder with usage.db, buyers.db and tenants.db. */
  dataDir: string;
  /** Business time (epoch ms): the emulator's clock in emulator mode. */
  now(): number;
  /** Tells the emulator where this app listens, so lifecycle notifications reach its webhooks. */
  connect(appUrl: string): void;
}

/** A pino-compatible logger over one `log(line)` function; debug and info are left out. */
export function lineLogger(log: (line: string) => void): Logger {
  const line = (level: string) => (obj: object, msg?: string) =>
    log(`${level} ${msg ?? "marketmeter"} ${JSON.stringify(obj)}`);
  return { debug() {}, info() {}, warn: line("warn"), error: line("error") };
}

/** The adapter's customer resolver type (its own request shape); NestJS declares it on the module instead. */
type MarketplaceOptionsOf = Parameters<typeof createMarketplace>[0];
export type GetCustomer = MarketplaceOptionsOf extends { getCustomer?: infer G } ? G : never;

/**
 * Creates the marketplace. With `aws`, it meters to AWS and keeps its data in `dataDir`. Without it, it
 * starts the emulator and keeps its data in `dataDir/demo`, which starts empty each time because the
 * emulator forgets its buyers when it stops.
 */
export async function setupMarketplace(options: {
  dataDir: string;
  aws?: AwsSettings;
  emulator?: EmulatorSettings;
  logger: Logger;
  /** Who a request belongs to, declared once for every metering middleware and subscription check. */
  getCustomer?: GetCustomer;
  /** A store shared by every instance (PostgreSQL or Redis). @default SQLite files in `dataDir` */
  store?: SharedStoreSettings;
}): Promise<MarketplaceSetup> {
  const { aws, logger } = options;
  const customer = options.getCustomer ? { getCustomer: options.getCustomer } : {};
  // SQLite files in the data folder, or one database every instance of the app shares.
  const stores = async (dataDir: string, fresh: boolean) =>
    options.store
      ? openSharedStores(options.store, { fresh })
      : {
          store: sqliteStore({ path: join(dataDir, "usage.db") }),
          directory: sqliteDirectoryStore({ path: join(dataDir, "buyers.db") }),
        };
  if (aws?.deployment) {
    const dataDir = options.dataDir;
    // Resolves once AWS confirmed the entitlement (or throws saying what to fix): only then the app serves.
    const marketplace = await createDeployment({
      mode: aws.deployment.mode,
      productCode: aws.productCode,
      deploymentId: aws.deployment.id ?? "{{name}}",
      dimensions: DIMENSIONS,
      store: sqliteStore({ path: join(dataDir, "usage.db") }),
      aws: { region: aws.region }, // the task, pod, instance or agent role, from the SDK's default chain
      gracePeriodMs: GRACE_PERIOD_MS,
      logger,
    });
    return {
      marketplace,
      mode: aws.deployment.mode,
      productCode: aws.productCode,
      emulator: undefined,
      dataDir,
      now: Date.now,
      connect() {},
    };
  }
  if (aws) {
    const dataDir = options.dataDir;
    const kept = await stores(dataDir, false);
    const marketplace = createMarketplace({
      products: [{ productCode: aws.productCode }],
      dimensions: DIMENSIONS,
      ...kept,
      aws: { region: aws.region }, // credentials come from the AWS SDK's default chain
      gracePeriodMs: GRACE_PERIOD_MS,
      logger,
      ...customer,
      buyers: { eventBridge: { secret: aws.webhookSecret }, sns: { autoConfirm: true } },
    });
    return {
      marketplace,
      mode: "saas",
      productCode: aws.productCode,
      emulator: undefined,
      dataDir,
      now: Date.now,
      connect() {},
    };
  }

  const dataDir = join(options.dataDir, "demo");
  if (options.emulator?.url !== undefined)
    return joinEmulator(options.emulator.url, dataDir, await stores(dataDir, false), options);
  for (const file of ["usage.db", "buyers.db", "tenants.db"])
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(dataDir, file + suffix), { force: true });

  // Loaded only here: production never needs the emulator.
  const { DEMO, demoConfig, startEmulator } = await import("@marketmeter/emulator");
  const config = demoConfig({ now: options.emulator?.now ?? new Date(), frozen: options.emulator?.frozen });
  // The demo product gets this app's dimensions, as your listing would define them.
  config.products = config.products?.map((p) =>
    p.productCode === DEMO.P_CA ? { ...p, dimensions: [...DIMENSIONS] } : p,
  );
  const port = options.emulator?.port ?? 0;
  const emulator = await startEmulator({ port, config, log: options.emulator?.log }).catch((err: unknown) => {
    throw isAddressInUse(err) ? new PortInUseError("emulator", port, { cause: err }) : err;
  });
  const now = () => emulator.clock.now().getTime();
  const deployment = options.emulator?.deployment;
  if (deployment) {
    const marketplace = await createDeployment({
      mode: deployment.mode,
      productCode: DEMO.P_CA,
      deploymentId: deployment.id ?? "{{name}}",
      dimensions: DIMENSIONS,
      store: sqliteStore({ path: join(dataDir, "usage.db") }),
      aws: {
        region: "us-east-1",
        endpoint: emulator.endpoint,
        credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator" },
      },
      clock: now,
      gracePeriodMs: GRACE_PERIOD_MS,
      logger,
      // The emulator's RegisterUsage key, from its control API, verifies the signature it returns.
      publicKey: () => fetch(`${emulator.endpoint}/_emulator/keys/register-usage.pem`).then((r) => r.text()),
      emulator: { platform: deployment.platform ?? DEFAULT_PLATFORM[deployment.mode] },
    }).catch(async (err: unknown) => {
      await emulator.close();
      throw err;
    });
    return {
      marketplace,
      mode: deployment.mode,
      productCode: DEMO.P_CA,
      emulator,
      dataDir,
      now,
      connect() {},
    };
  }
  // The emulator forgets its buyers when it stops, so the demo's data starts empty too.
  const kept = await stores(dataDir, true);
  const secret = randomBytes(24).toString("base64url");
  const marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: DIMENSIONS,
    ...kept,
    aws: {
      region: "us-east-1",
      endpoint: emulator.endpoint,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator" },
    },
    // Business time is the emulator's, so "Close the hour" can move it forward.
    clock: now,
    gracePeriodMs: GRACE_PERIOD_MS,
    logger,
    ...customer,
    buyers: {
      eventBridge: { secret },
      sns: { trustedCertificateOrigins: [emulator.endpoint], autoConfirm: true },
    },
  });
  return {
    marketplace,
    mode: "saas",
    productCode: DEMO.P_CA,
    emulator,
    dataDir,
    now,
    connect(appUrl) {
      emulator.setWebhooks({
        eventBridge: [{ url: appUrl + ROUTES.eventBridge, secret }],
        sns: [{ url: appUrl + ROUTES.sns }],
      });
    },
  };
}

/**
 * Another instance of the app: it meters to the emulator the first instance started, on the same store,
 * and follows that emulator's clock (read every second, so "Close the hour" on the first instance moves
 * this one too).
 */
async function joinEmulator(
  url: string,
  dataDir: string,
  stores: Awaited<ReturnType<typeof openSharedStores>>,
  options: { logger: Logger; getCustomer?: GetCustomer },
): Promise<MarketplaceSetup> {
  const endpoint = loopbackUrl(url);
  const { DEMO } = await import("@marketmeter/emulator");
  let clock = await readEmulatorClock(endpoint);
  const timer = setInterval(() => {
    readEmulatorClock(endpoint).then(
      (c) => {
        clock = c;
      },
      () => {}, // keep the last reading; the next one retries
    );
  }, 1000);
  timer.unref();
  const now = () => (clock.frozen ? clock.at : clock.at + (Date.now() - clock.readAt));
  const marketplace = createMarketplace({
    products: [{ productCode: DEMO.P_CA }],
    dimensions: DIMENSIONS,
    ...stores,
    aws: {
      region: "us-east-1",
      endpoint,
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "emulator" },
    },
    clock: now,
    gracePeriodMs: GRACE_PERIOD_MS,
    logger: options.logger,
    ...(options.getCustomer ? { getCustomer: options.getCustomer } : {}),
  });
  // Stop following the clock when the app closes the marketplace.
  const close = marketplace.close.bind(marketplace);
  marketplace.close = () => {
    clearInterval(timer);
    return close();
  };
  return {
    marketplace,
    mode: "saas",
    productCode: DEMO.P_CA,
    emulator: undefined,
    dataDir,
    now,
    connect() {},
  };
}

/** Only an emulator on this machine: the demo never sends usage anywhere else. */
function loopbackUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`MARKETMETER_EMULATOR_URL must be a URL such as http://127.0.0.1:4566; got "${url}"`);
  }
  if (u.protocol !== "http:" || !["127.0.0.1", "localhost", "[::1]"].includes(u.hostname))
    throw new Error(`MARKETMETER_EMULATOR_URL must be an http:// loopback address (127.0.0.1); got "${url}"`);
  return u.origin;
}

async function readEmulatorClock(endpoint: string): Promise<{ at: number; frozen: boolean; readAt: number }> {
  const res = await fetch(`${endpoint}/_emulator/clock`, { signal: AbortSignal.timeout(2000) });
  if (!res.ok) throw new Error(`the emulator at ${endpoint} answered ${res.status} for its clock`);
  const body = (await res.json()) as { now: string; frozen: boolean };
  return { at: Date.parse(body.now), frozen: body.frozen, readAt: Date.now() };
}
