import { generateKeyPair, type KeyObject, sign } from "node:crypto";
import { ApiError } from "../errors.js";
import { EpochSeconds } from "../wire/cbor.js";
import { type Checked, PRODUCT_CODE_PATTERN, Violations } from "../wire/shapes.js";
import type { OpContext, OpResult } from "./context.js";
import { resourceOf } from "./meter-usage.js";

export interface RegisterUsageInput {
  ProductCode?: string;
  PublicKeyVersion?: number;
  Nonce?: string;
}

let sharedKey: Promise<{ privateKey: KeyObject; publicKeyPem: string }> | undefined;

/**
 * RSA key pair that signs RegisterUsage answers. One key per process, generated off the event loop
 * on first use, so starting many emulators (as tests do) stays cheap.
 */
export class RegisterUsageSigner {
  private key?: { privateKey: KeyObject; publicKeyPem: string };
  /** Resolves once the key exists. */
  async ready(): Promise<void> {
    sharedKey ??= new Promise((resolve, reject) =>
      generateKeyPair("rsa", { modulusLength: 2048 }, (err, publicKey, privateKey) => {
        if (err) reject(err);
        else
          resolve({ privateKey, publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString() });
      }),
    );
    this.key = await sharedKey;
  }
  private get pair() {
    if (!this.key) throw new Error("RegisterUsage signing key is not ready; await ready() first");
    return this.key;
  }
  /** PEM (SPKI) public key that verifies every Signature this emulator returns. */
  get publicKeyPem(): string {
    return this.pair.publicKeyPem;
  }
  /** An RS256 JWT over `payload`. */
  sign(payload: Record<string, unknown>, kid: string): string {
    const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");
    const data = `${b64({ alg: "RS256", typ: "JWT", kid })}.${b64(payload)}`;
    return `${data}.${sign("sha256", Buffer.from(data), this.pair.privateKey).toString("base64url")}`;
  }
}

/** RegisterUsage input after its shape check: the members the service requires are present. */
export type ValidRegisterUsageInput = Checked<RegisterUsageInput, "ProductCode" | "PublicKeyVersion">;

export function validateRegisterUsage(input: RegisterUsageInput): ValidRegisterUsageInput {
  const v = new Violations();
  if (input.ProductCode === undefined) v.required("productCode");
  else if (input.ProductCode.length > 255 || !PRODUCT_CODE_PATTERN.test(input.ProductCode)) {
    v.add(
      input.ProductCode,
      "productCode",
      "Member must satisfy regular expression pattern: ^[-a-zA-Z0-9/=:_.@]*$ and have length less than or equal to 255",
    );
  }
  if (input.PublicKeyVersion === undefined) v.required("publicKeyVersion");
  else if (input.PublicKeyVersion < 1)
    v.add(input.PublicKeyVersion, "publicKeyVersion", "Member must have value greater than or equal to 1");
  if (input.Nonce !== undefined && input.Nonce.length > 255)
    v.add(input.Nonce, "nonce", "Member must have length less than or equal to 255");
  return v.checked(input, ["ProductCode", "PublicKeyVersion"]);
}

const CONTAINER_PLATFORMS = ["ecs", "eks", "fargate"];

export async function registerUsage(
  ctx: OpContext,
  input: ValidRegisterUsageInput,
  signer: RegisterUsageSigner,
): Promise<OpResult> {
  const { state, now } = ctx;
  const res = resourceOf(ctx, { id: "task-emulator0000000001", platform: "ecs" });
  if (res.region !== ctx.region) {
    throw new ApiError(
      "InvalidRegionException",
      `The task was launched in ${res.region}; call RegisterUsage there, not in ${ctx.region}.`,
    );
  }
  const product = state.products.get(input.ProductCode);
  if (!product)
    throw new ApiError("InvalidProductCodeException", `Product code '${input.ProductCode}' is not valid.`);
  const version = input.PublicKeyVersion;
  const expired = state.profile.expiredPublicKeyVersions[String(version)];
  if (expired === undefined && !state.profile.publicKeyVersions.includes(version)) {
    throw new ApiError("InvalidPublicKeyVersionException", `Public key version ${version} is not supported.`);
  }
  // Entitlement and platform are checked only on a task's first call; later calls always succeed.
  const taskKey = `${ctx.region}|${res.id}|${product.productCode}`;
  if (!state.registeredTasks.has(taskKey)) {
    if (!CONTAINER_PLATFORMS.includes(res.platform)) {
      throw new ApiError(
        "PlatformNotSupportedException",
        `RegisterUsage is supported on ECS, EKS and Fargate, not ${res.platform}.`,
      );
    }
    if (!res.account || !state.accountEntitled(product.productCode, res.account)) {
      throw new ApiError("CustomerNotEntitledException", "The customer is not subscribed to this product.");
    }
    state.registeredTasks.add(taskKey);
  }
  const payload: Record<string, unknown> = {
    productCode: product.productCode,
    publicKeyVersion: version,
    customerAWSAccountId: res.account,
    resourceId: res.id,
    region: ctx.region,
    timestamp: new Date(now).toISOString(),
    iat: Math.floor(now / 1000),
  };
  if (input.Nonce !== undefined) payload.nonce = input.Nonce;
  await signer.ready();
  const output: Record<string, unknown> = { Signature: signer.sign(payload, String(version)) };
  if (expired !== undefined)
    output.PublicKeyRotationTimestamp = new EpochSeconds(Math.floor(Date.parse(expired) / 1000));
  return { output, summary: `${res.id} key v${version}${expired !== undefined ? " (expired key)" : ""}` };
}
