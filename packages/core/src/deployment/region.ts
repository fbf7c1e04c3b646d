/**
 * The Region a deployment runs in. MeterUsage and RegisterUsage must be called there, so it comes from
 * the platform: the environment, then the ECS task metadata endpoint, then EC2 instance metadata (IMDSv2).
 */
import { MarketplaceError } from "../errors/index.js";

/** Options of {@link resolveDeploymentRegion}. */
export interface ResolveRegionOptions {
  /** The environment to read. @default process.env */
  env?: Record<string, string | undefined>;
  /** Wall-time budget of all metadata requests together. @default 2000 */
  timeoutMs?: number;
}

const IMDS_ENDPOINT = "http://169.254.169.254";
// Partition prefixes vary (us, eu, ap, cn, us-gov, eusc-de…), the shape is stable: letters, then a number.
const REGION = /^[a-z]{2,5}(?:-[a-z]+)+-\d{1,2}$/;

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/** A well-formed Region name (`us-east-1`, `us-gov-west-1`, `eusc-de-east-1`). */
export function isRegionName(value: unknown): value is string {
  return typeof value === "string" && REGION.test(value);
}

/**
 * The Region of an Availability Zone name (`us-east-1a` → `us-east-1`; Local and Wavelength Zones such
 * as `us-west-2-lax-1a` → `us-west-2`), or undefined when it is not one.
 */
export function regionOfZone(zone: unknown): string | undefined {
  if (typeof zone !== "string") return undefined;
  const m = /^([a-z]{2,5}(?:-[a-z]+)+-\d{1,2})(?:[a-z]|-[a-z0-9-]*[a-z0-9])$/.exec(zone);
  return m?.[1];
}

/** The Region field of an ARN (`arn:aws:ecs:eu-west-1:123456789012:task/…`), or undefined. */
export function regionOfArn(arn: unknown): string | undefined {
  if (typeof arn !== "string") return undefined;
  const region = arn.split(":")[3];
  return isRegionName(region) ? region : undefined;
}

/**
 * The Region to meter in, from the environment the platform gives the process: `AWS_REGION` (ECS, EKS
 * with IRSA, Lambda, AgentCore), then `AWS_DEFAULT_REGION`. Throws `INVALID_CONFIG` when neither is set;
 * {@link resolveDeploymentRegion} also asks the ECS and EC2 metadata endpoints.
 *
 * @example
 * createDeployment({ aws: { region: deploymentRegion(process.env) }, … })
 */
export function deploymentRegion(env: Record<string, string | undefined>): string {
  if (typeof env !== "object" || env === null)
    invalid("deploymentRegion() takes the environment (process.env)");
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region)
    invalid(
      "no AWS Region in the environment: MeterUsage and RegisterUsage must be called in the Region the software runs in; set AWS_REGION (or use resolveDeploymentRegion(), which asks the ECS or EC2 metadata)",
    );
  return region;
}

/**
 * The Region to meter in: `AWS_REGION` or `AWS_DEFAULT_REGION`; else, on ECS and Fargate, the task
 * metadata endpoint (`ECS_CONTAINER_METADATA_URI_V4`); else, on EC2 and EKS nodes, instance metadata
 * (IMDSv2, at `AWS_EC2_METADATA_SERVICE_ENDPOINT` when set; skipped when `AWS_EC2_METADATA_DISABLED`
 * is `true`). Metadata requests share a bounded budget; rejects with `INVALID_CONFIG` naming
 * `AWS_REGION` when nothing answers.
 *
 * @example
 * createDeployment({ aws: { region: await resolveDeploymentRegion() }, … })
 */
export async function resolveDeploymentRegion(options: ResolveRegionOptions = {}): Promise<string> {
  if (typeof options !== "object" || options === null)
    invalid("resolveDeploymentRegion() takes an options object ({ env, timeoutMs })");
  const { env = process.env, timeoutMs = 2_000 } = options;
  if (typeof env !== "object" || env === null)
    invalid("resolveDeploymentRegion(): env must be the environment (process.env)");
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1)
    invalid("resolveDeploymentRegion(): timeoutMs must be a positive integer (milliseconds)");
  const fromEnv = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (fromEnv) return fromEnv;

  const signal = AbortSignal.timeout(timeoutMs);
  const tried: string[] = [];
  const ecs = env.ECS_CONTAINER_METADATA_URI_V4;
  if (ecs) {
    tried.push(`ECS task metadata (${ecs}/task)`);
    const region = await fromEcs(ecs, signal);
    if (region) return region;
  }
  if (env.AWS_EC2_METADATA_DISABLED?.toLowerCase() !== "true" && !signal.aborted) {
    const endpoint = (env.AWS_EC2_METADATA_SERVICE_ENDPOINT || IMDS_ENDPOINT).replace(/\/+$/, "");
    tried.push(`EC2 instance metadata (${endpoint})`);
    const region = await fromImds(endpoint, signal);
    if (region) return region;
  }
  return invalid(
    `no AWS Region: AWS_REGION and AWS_DEFAULT_REGION are not set${
      tried.length > 0 ? ` and no answer within ${timeoutMs} ms from ${tried.join(" or ")}` : ""
    }; MeterUsage and RegisterUsage must be called in the Region the software runs in: set AWS_REGION`,
  );
}

/** ECS task metadata v4: the task ARN names the Region; the Availability Zone does too (Fargate, EC2). */
async function fromEcs(base: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const res = await fetch(`${base.replace(/\/+$/, "")}/task`, { signal });
    if (!res.ok) return undefined;
    const task = (await res.json()) as { TaskARN?: unknown; AvailabilityZone?: unknown };
    return regionOfArn(task?.TaskARN) ?? regionOfZone(task?.AvailabilityZone);
  } catch {
    return undefined; // unreachable, timed out or not JSON: the next source, then the error
  }
}

/** IMDSv2: a session token (PUT), then the placement Region with it. */
async function fromImds(endpoint: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    const tokenRes = await fetch(`${endpoint}/latest/api/token`, {
      method: "PUT",
      headers: { "x-aws-ec2-metadata-token-ttl-seconds": "60" },
      signal,
    });
    if (!tokenRes.ok) return undefined;
    const token = await tokenRes.text();
    const res = await fetch(`${endpoint}/latest/meta-data/placement/region`, {
      headers: { "x-aws-ec2-metadata-token": token },
      signal,
    });
    if (!res.ok) return undefined;
    const region = (await res.text()).trim();
    return isRegionName(region) ? region : undefined;
  } catch {
    return undefined;
  }
}
