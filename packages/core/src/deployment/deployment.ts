/**
 * Container, AMI and AgentCore products: the software runs in the buyer's account, so the buyer is the
 * deployment, not a request. RegisterUsage (paid containers) and a MeterUsage permission check run
 * before the app serves; usage goes through the same pipeline and store as SaaS, one grain per
 * deployment × dimension × hour, sent with MeterUsage.
 */
import type { KeyObject } from "node:crypto";
import { MeterUsageCommand } from "@aws-sdk/client-marketplace-metering";
import type { AccessDecision } from "../access/index.js";
import { callDeadlineOf, createAwsClients, withDeadline } from "../aws/index.js";
import { MarketplaceError } from "../errors/index.js";
import type { LegacyIdentity } from "../identity/index.js";
import { createMarketplaceWith, type Marketplace, type MarketplaceOptions } from "../marketplace/index.js";
import { errorName, RateLimiter } from "../reporter/index.js";
import { HOUR_MS, hourStart, silentLogger } from "../runtime/index.js";
import { type AgentCoreMetering, meterBySlot, slottingOf } from "./agentcore.js";
import { type FixContext, refusal } from "./errors.js";
import type { RegistrationClaims } from "./jwt.js";
import { registerUsage, type StartRetry, startCall } from "./register.js";
import { meterUsageSender } from "./sender.js";

/** Where the software runs. */
export type DeploymentMode = "container" | "ami" | "agentcore";

/** The platforms the AWS Marketplace emulator models (its `x-emu-platform`). */
export type EmulatedPlatform = "ec2" | "ecs" | "eks" | "fargate" | "agentcore";

/** Options of {@link createDeployment}: the marketplace's, minus the SaaS buyer lifecycle, plus these. */
export interface DeploymentOptions<D extends readonly string[] = readonly string[]>
  extends Omit<MarketplaceOptions<D>, "products" | "buyers" | "directory" | "zeroRecords" | "dryRun"> {
  /** `container` (ECS, EKS, Fargate), `ami` (EC2) or `agentcore` (Amazon Bedrock AgentCore Runtime). */
  mode: DeploymentMode;
  /** The product code of the listing. */
  productCode: string;
  /**
   * A stable id of this instance, task, pod or agent runtime, the same across restarts of the process
   * (EC2 instance id, ECS task id, pod name): usage saved before a restart joins the same hour's record.
   */
  deploymentId: string;
  /** Container: call RegisterUsage at start (paid container products). @default true in container mode */
  register?: boolean;
  /** Container: the public key version given to RegisterUsage. @default 1 */
  publicKeyVersion?: number;
  /**
   * Container: the key that verifies RegisterUsage's signature (PEM, KeyObject, or a function that loads
   * it). The emulator publishes its key at `/_emulator/keys/register-usage.pem`; for AWS, verification is
   * opt-in with a key you supply. @default not verified (logged once)
   */
  publicKey?: string | KeyObject | (() => Promise<string | KeyObject>);
  /**
   * When AWS says the buyer is not entitled: throw at start (`NOT_ENTITLED`), or serve with every
   * access check denied (402). @default "refuse-start"
   */
  onNotEntitled?: "refuse-start" | "deny-access";
  /** Check the MeterUsage permission at start with `DryRun`. @default true */
  checkPermission?: boolean;
  /** Wall-time budget of the start-up calls, retries included. @default 30000 */
  startTimeoutMs?: number;
  /**
   * AgentCore: one MeterUsage per call (`{ meter: "per-call" }`, sent at once with the call's timestamp)
   * or per interval shorter than the hour (`{ meter: "interval", intervalMs: 300000 }`), each with a
   * client token derived from what it reports. @default one per dimension per hour
   */
  agentcore?: AgentCoreMetering;
  /**
   * Emulator only: the caller the emulator sees (platform, buyer account, the Region the resource runs
   * in), sent as its `x-emu-*` headers. Never set against AWS.
   */
  emulator?: { platform: EmulatedPlatform; accountId?: string; resourceRegion?: string };
}

/** What start-up learned about this deployment. */
export interface DeploymentInfo {
  mode: DeploymentMode;
  deploymentId: string;
  /** The billing identity of every request. */
  identity: LegacyIdentity;
  /** False when AWS said the buyer is not entitled (with `onNotEntitled: "deny-access"`) or MeterUsage did. */
  readonly entitled: boolean;
  /** RegisterUsage outcome (container mode). */
  registration?: {
    verified: boolean;
    claims: RegistrationClaims | undefined;
    keyRotationAt: Date | undefined;
    attempts: number;
  };
}

/** A marketplace instance of a deployment: the same interface, plus what start-up learned. */
export type DeploymentMarketplace<D extends string = string> = Marketplace<D> & {
  readonly deployment: DeploymentInfo;
};

/** MeterUsage accepts a record up to 6 hours after its timestamp. */
export const METER_USAGE_WINDOW_MS = 6 * HOUR_MS;

const MODES: readonly DeploymentMode[] = ["container", "ami", "agentcore"];
const PLATFORMS: readonly EmulatedPlatform[] = ["ec2", "ecs", "eks", "fargate", "agentcore"];
const ROLE: Record<DeploymentMode, { what: string; role: string }> = {
  container: { what: "task", role: "the ECS task role or the EKS service account's IAM role (IRSA)" },
  ami: { what: "instance", role: "the EC2 instance profile role" },
  agentcore: { what: "agent", role: "the AgentCore Runtime execution role" },
};
const DEPLOYMENT_ID = /^[\x21-\x7e]{1,200}$/;

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/**
 * Starts a container, AMI or AgentCore deployment: RegisterUsage (containers), a DryRun permission check,
 * then a marketplace whose every request belongs to the deployment's buyer. Resolves once it may serve;
 * rejects with a coded error that says what to fix (`NOT_ENTITLED`, `PLATFORM_NOT_SUPPORTED`,
 * `WRONG_REGION`, `INVALID_KEY_VERSION`, `API_DISABLED`, `UNAUTHORIZED`, `INVALID_SIGNATURE`).
 *
 * @example
 * const marketplace = await createDeployment({
 *   mode: "container",
 *   productCode: "prod-1234567890abcdefghij",
 *   deploymentId: process.env.HOSTNAME ?? "task",
 *   dimensions: ["api_calls"],
 *   aws: { region: deploymentRegion(process.env) },
 *   store: sqliteStore({ path: "/data/usage.db" }),
 * });
 * app.use(meterUsage(marketplace, { dimension: "api_calls" }));
 */
export async function createDeployment<const D extends readonly string[]>(
  options: DeploymentOptions<D>,
): Promise<DeploymentMarketplace<D[number]>> {
  if (typeof options !== "object" || options === null) invalid("createDeployment() takes an options object");
  const {
    mode,
    productCode,
    deploymentId,
    register = mode === "container",
    publicKeyVersion = 1,
    publicKey,
    onNotEntitled = "refuse-start",
    checkPermission = true,
    startTimeoutMs = 30_000,
    emulator,
    agentcore,
    ...marketplaceOptions
  } = options;
  if (!MODES.includes(mode)) invalid(`mode must be one of ${MODES.join(", ")} (SaaS uses createMarketplace)`);
  if (typeof deploymentId !== "string" || !DEPLOYMENT_ID.test(deploymentId))
    invalid(
      "deploymentId must be 1-200 printable characters without spaces (instance id, task id, pod name)",
    );
  if (register && mode !== "container") invalid("register: true is for container mode only");
  if (!Number.isSafeInteger(publicKeyVersion) || publicKeyVersion < 1)
    invalid("publicKeyVersion must be an integer >= 1");
  if (onNotEntitled !== "refuse-start" && onNotEntitled !== "deny-access")
    invalid('onNotEntitled must be "refuse-start" or "deny-access"');
  if (!Number.isSafeInteger(startTimeoutMs) || startTimeoutMs < 1)
    invalid("startTimeoutMs must be a positive integer (milliseconds)");
  if (
    publicKey !== undefined &&
    typeof publicKey !== "string" &&
    typeof publicKey !== "function" &&
    typeof publicKey !== "object"
  )
    invalid("publicKey must be a PEM string, a KeyObject or a function returning one");
  if (emulator !== undefined && (typeof emulator !== "object" || !PLATFORMS.includes(emulator?.platform)))
    invalid(`emulator.platform must be one of ${PLATFORMS.join(", ")}`);
  const slotting = slottingOf(agentcore, mode);
  const identity: LegacyIdentity = { customerIdentifier: deploymentId, productCode };

  const clients = createAwsClients(marketplaceOptions.aws);
  const metering = clients.metering;
  if (emulator) {
    const headers: Record<string, string> = {
      "x-emu-platform": emulator.platform,
      "x-emu-resource-id": deploymentId,
    };
    if (emulator.accountId) headers["x-emu-account-id"] = emulator.accountId;
    if (emulator.resourceRegion) headers["x-emu-resource-region"] = emulator.resourceRegion;
    metering.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string> };
        if (request?.headers) Object.assign(request.headers, headers);
        return next(args);
      },
      { step: "build", name: "marketmeterEmulatorCaller" },
    );
  }
  const logger = marketplaceOptions.logger ?? silentLogger;
  const clock = marketplaceOptions.clock ?? Date.now;
  const fix: Omit<FixContext, "operation" | "productCode"> = {
    region: clients.region,
    publicKeyVersion,
    ...ROLE[mode],
  };
  const retry: StartRetry = {
    logger,
    random: marketplaceOptions.random ?? Math.random,
    budgetMs: startTimeoutMs,
    retry: { baseDelayMs: 100, maxDelayMs: 5_000 },
  };
  // One pace for every MeterUsage call of this deployment, the start-up check included.
  const limiter = new RateLimiter({ callsPerSecond: marketplaceOptions.callsPerSecond ?? 10 });
  let entitled = true;
  let registration: DeploymentInfo["registration"];
  try {
    if (register) {
      try {
        registration = await registerUsage({
          client: metering,
          productCode,
          publicKeyVersion,
          publicKey:
            publicKey === undefined
              ? undefined
              : typeof publicKey === "function"
                ? publicKey
                : async () => publicKey,
          fix,
          clock,
          ...retry,
        });
      } catch (err) {
        if (
          !(err instanceof MarketplaceError && err.code === "NOT_ENTITLED" && onNotEntitled === "deny-access")
        )
          throw err;
        entitled = false;
        logger.error({ productCode }, `marketmeter: ${err.message}; serving with access denied`);
      }
    }
    if (checkPermission && entitled)
      await startCall(
        "MeterUsage (DryRun)",
        async () => {
          await limiter.acquire();
          await dryRun(metering, productCode, marketplaceOptions.dimensions[0], clock());
        },
        (err) => refusal(err, { ...fix, operation: "MeterUsage", productCode }),
        retry,
        fix.region,
      );
  } catch (err) {
    clients.destroy();
    throw err;
  }

  const decide = (): AccessDecision =>
    entitled
      ? {
          allowed: true,
          customer: {
            id: deploymentId,
            productCode,
            identity,
            customerIdentifier: deploymentId,
            status: "active",
            statusAt: 0,
            createdAt: 0,
            updatedAt: 0,
          },
          identity,
          tenantId: undefined,
          finalWindow: false,
          freeTrial: false,
          entitlements: undefined,
        }
      : {
          allowed: false,
          reason: "not-subscribed",
          httpStatus: 402,
          message: "AWS Marketplace reports that the account running this software is not subscribed.",
          customer: undefined,
        };
  const marketplace = createMarketplaceWith(
    {
      ...marketplaceOptions,
      products: [{ productCode }],
      aws: { ...marketplaceOptions.aws, client: metering },
    } as MarketplaceOptions<D>,
    {
      sender: meterUsageSender(metering, {
        clientTokens: mode === "agentcore",
        deploymentId,
        fix,
        limiter,
      }),
      // MeterUsage takes records up to 6 hours old (BatchMeterUsage: 24).
      acceptanceDeadline: (timestamp) => hourStart(timestamp) + METER_USAGE_WINDOW_MS,
      access: decide,
      getCustomer: () => identity,
    },
  );
  // AWS refusing usage as not entitled is the freshest word: access follows it at once.
  marketplace.on("rejected", (e) => {
    if (e.code === "CUSTOMER_NOT_SUBSCRIBED") entitled = false;
  });
  if (slotting.kind !== "hour")
    try {
      await meterBySlot(marketplace, {
        deploymentId,
        productCode,
        slotting,
        clock,
        logger,
        autoStart: marketplaceOptions.autoStart ?? true,
        closeTimeoutMs: marketplaceOptions.closeTimeoutMs ?? 20_000,
      });
    } catch (err) {
      await marketplace.close().catch(() => {});
      clients.destroy();
      throw err;
    }
  const close = marketplace.close.bind(marketplace);
  const info: DeploymentInfo = {
    mode,
    deploymentId,
    identity,
    get entitled() {
      return entitled;
    },
    ...(registration ? { registration } : {}),
  };
  return Object.assign(marketplace, {
    deployment: info,
    close: async () => {
      try {
        await close();
      } finally {
        clients.destroy();
      }
    },
  }) as DeploymentMarketplace<D[number]>;
}

/** MeterUsage with DryRun: `DryRunOperation` means the role may meter; any other answer is thrown. */
async function dryRun(
  client: ReturnType<typeof createAwsClients>["metering"],
  productCode: string,
  dimension: string | undefined,
  now: number,
): Promise<void> {
  try {
    await withDeadline("MeterUsage", callDeadlineOf(client), (abortSignal) =>
      client.send(
        new MeterUsageCommand({
          ProductCode: productCode,
          Timestamp: new Date(hourStart(now)),
          UsageDimension: dimension,
          UsageQuantity: 0,
          DryRun: true,
        }),
        { abortSignal },
      ),
    );
  } catch (err) {
    if (errorName(err) === "DryRunOperation") return;
    throw err;
  }
}
