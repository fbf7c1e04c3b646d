/**
 * RegisterUsage at start-up (paid container products): a fresh nonce, the configured public key
 * version, bounded retries of throttling and server errors, then the returned signature verified.
 */
import { randomBytes } from "node:crypto";
import {
  type MarketplaceMeteringClient,
  RegisterUsageCommand,
  type RegisterUsageCommandOutput,
} from "@aws-sdk/client-marketplace-metering";
import { callDeadlineOf, withDeadline } from "../aws/index.js";
import { MarketplaceError } from "../errors/index.js";
import { backoffDelay, classifyError, errorName } from "../reporter/index.js";
import type { Clock, Logger } from "../runtime/index.js";
import { type FixContext, refusal } from "./errors.js";
import { type RegistrationClaims, verifyRegistration } from "./jwt.js";
import type { KeyObject } from "node:crypto";

export interface RegisterOptions {
  client: MarketplaceMeteringClient;
  productCode: string;
  publicKeyVersion: number;
  /** The key to verify the signature with; without it the signature is not verified (logged). */
  publicKey: (() => Promise<string | KeyObject>) | undefined;
  /** For error messages: the Region called and the role to fix. */
  fix: Omit<FixContext, "operation" | "productCode" | "publicKeyVersion">;
  clock: Clock;
  logger: Logger;
  random: () => number;
  /** Wall-time budget of all attempts. */
  budgetMs: number;
  retry: { baseDelayMs: number; maxDelayMs: number };
}

export interface RegisterResult {
  /** Claims of the verified signature; undefined when no key was given. */
  claims: RegistrationClaims | undefined;
  verified: boolean;
  /** When AWS says the key version expired (PublicKeyRotationTimestamp). */
  keyRotationAt: Date | undefined;
  attempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Calls RegisterUsage until it answers, a refusal comes, or the budget is spent. */
export async function registerUsage(o: RegisterOptions): Promise<RegisterResult> {
  const fixCtx: FixContext = {
    ...o.fix,
    operation: "RegisterUsage",
    productCode: o.productCode,
    publicKeyVersion: o.publicKeyVersion,
  };
  const end = performance.now() + o.budgetMs;
  const deadline = callDeadlineOf(o.client);
  for (let attempt = 0; ; attempt++) {
    // A fresh nonce per attempt: a recorded answer to an earlier request cannot be replayed.
    const nonce = randomBytes(16).toString("hex");
    let out: RegisterUsageCommandOutput;
    try {
      out = await withDeadline("RegisterUsage", deadline, (abortSignal) =>
        o.client.send(
          new RegisterUsageCommand({
            ProductCode: o.productCode,
            PublicKeyVersion: o.publicKeyVersion,
            Nonce: nonce,
          }),
          { abortSignal },
        ),
      );
    } catch (err) {
      const known = refusal(err, fixCtx);
      if (known) throw known;
      const kind = classifyError(err);
      const wait = backoffDelay(attempt, o.retry, o.random);
      if ((kind === "throttle" || kind === "transient") && performance.now() + wait < end) {
        o.logger.warn(
          { error: errorName(err), attempt: attempt + 1, retryInMs: wait },
          "marketmeter: RegisterUsage failed; retrying",
        );
        await sleep(wait);
        continue;
      }
      throw new MarketplaceError(
        kind === "throttle" || kind === "transient" ? "AWS_UNAVAILABLE" : "AWS_REJECTED",
        `RegisterUsage failed (${errorName(err)}) after ${attempt + 1} attempt(s): the task cannot start metered; check network access to the AWS Marketplace Metering endpoint in ${o.fix.region} and retry`,
        { cause: err, details: { awsError: errorName(err), attempts: attempt + 1 } },
      );
    }
    const keyRotationAt = out.PublicKeyRotationTimestamp;
    if (keyRotationAt)
      o.logger.warn(
        { publicKeyVersion: o.publicKeyVersion, rotation: keyRotationAt.toISOString() },
        "marketmeter: AWS Marketplace says this public key version expired: set deployment.publicKeyVersion (and deployment.publicKey) to the current version and roll out a new image",
      );
    if (!o.publicKey) {
      o.logger.info(
        {},
        "marketmeter: RegisterUsage signature not verified (no deployment.publicKey given)",
      );
      return { claims: undefined, verified: false, keyRotationAt, attempts: attempt + 1 };
    }
    let key: string | KeyObject;
    try {
      key = await o.publicKey();
    } catch (cause) {
      throw new MarketplaceError("INVALID_CONFIG", "deployment.publicKey could not be loaded", { cause });
    }
    const claims = verifyRegistration(out.Signature, {
      publicKey: key,
      nonce,
      productCode: o.productCode,
      now: o.clock(),
    });
    return { claims, verified: true, keyRotationAt, attempts: attempt + 1 };
  }
}
