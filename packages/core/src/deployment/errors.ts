/** What a RegisterUsage or MeterUsage refusal means for a deployment, and how the operator fixes it. */
import { MarketplaceError, type MarketplaceErrorCode } from "../errors/index.js";
import { errorName } from "../reporter/index.js";

const FIXES: Record<string, { code: MarketplaceErrorCode; text: (ctx: FixContext) => string }> = {
  CustomerNotEntitledException: {
    code: "NOT_ENTITLED",
    text: (c) =>
      `the AWS account running this ${c.what} is not subscribed to product ${c.productCode}: subscribe to it in AWS Marketplace with this account (or check that the product code is the one of the listing)`,
  },
  PlatformNotSupportedException: {
    code: "PLATFORM_NOT_SUPPORTED",
    text: () =>
      'RegisterUsage works only in Amazon ECS, Amazon EKS and AWS Fargate tasks and pods: run the container there, or use mode: "ami" on EC2',
  },
  InvalidRegionException: {
    code: "WRONG_REGION",
    text: (c) =>
      `RegisterUsage was called in ${c.region}, not in the Region the task was launched in: set AWS_REGION (aws.region) to the task's Region`,
  },
  InvalidEndpointRegionException: {
    code: "WRONG_REGION",
    text: (c) =>
      `MeterUsage was called in ${c.region}, not in the Region this ${c.what} runs in: set AWS_REGION (aws.region) to that Region`,
  },
  InvalidPublicKeyVersionException: {
    code: "INVALID_KEY_VERSION",
    text: (c) =>
      `public key version ${c.publicKeyVersion} is not valid: set deployment.publicKeyVersion to the version AWS Marketplace gives for your product`,
  },
  DisabledApiException: {
    code: "API_DISABLED",
    text: (c) => `the metering API is not available in ${c.region}: run in a Region AWS Marketplace supports`,
  },
  InvalidProductCodeException: {
    code: "UNKNOWN_PRODUCT",
    text: (c) =>
      `product code ${c.productCode} is not known to AWS Marketplace: check deployment.productCode`,
  },
  InvalidUsageDimensionException: {
    code: "INVALID_DIMENSION",
    text: () => "a dimension is not defined for this product: list exactly the dimensions of the listing",
  },
  UnauthorizedException: {
    code: "UNAUTHORIZED",
    text: (c) =>
      `the role of this ${c.what} may not call ${c.operation}: give its role (${c.role}) the IAM action aws-marketplace:${c.operation}`,
  },
  AccessDeniedException: {
    code: "UNAUTHORIZED",
    text: (c) =>
      `the role of this ${c.what} may not call ${c.operation}: give its role (${c.role}) the IAM action aws-marketplace:${c.operation}`,
  },
};

export interface FixContext {
  operation: "RegisterUsage" | "MeterUsage";
  productCode: string;
  region: string;
  publicKeyVersion?: number;
  /** "task", "instance", "agent". */
  what: string;
  /** The role to fix, e.g. "the ECS task role". */
  role: string;
}

/** The start-up error of an AWS refusal, or undefined when the error is not a known refusal. */
export function refusal(err: unknown, ctx: FixContext): MarketplaceError | undefined {
  const name = errorName(err);
  const fix = FIXES[name];
  if (!fix) return undefined;
  return new MarketplaceError(fix.code, `${ctx.operation} refused (${name}): ${fix.text(ctx)}`, {
    cause: err,
    details: { awsError: name, operation: ctx.operation, region: ctx.region },
  });
}
