/**
 * RegisterUsage at start-up (paid container products): a fresh nonce, the configured public key
 * version, bounded retries of throttling and server errors, then the returned signature verified.
 */
import { type KeyObject, randomBytes } from "node:crypto";
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

export interface RegisterOptions extends StartRetry {
  client: MarketplaceMeteringClient;
  productCode: string;
  publicKeyVersion: number;
  /** The key to verify the signature with; without it the signature is not verified (logged). */
  publicKey: (() => Promise<string | KeyObject>) | undefined;
  /** For error messages: the Region called and the role to fix. */
  fix: Omit<FixContext, "operation" | "productCode" | "publicKeyVersion">;
  clock: Clock;
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

/** How start-up calls retry: throttling and server errors, with back-off, within a wall-time budget. */
export interface StartRetry {
  logger: Logger;
  random: () => number;
  /** Wall-time budget of all attempts. */
  budgetMs: number;
  retry: { baseDelayMs: number; maxDelayMs: number };
}

/**
 * Runs a start-up call until it answers, AWS refuses it (the refusal is returned as its start-up error by
 * `refused`), or the budget is spent (`AWS_UNAVAILABLE`). `call` gets the attempt number.
 */
export async function startCall<T>(
  operation: string,
  call: (attempt: number) => Promise<T>,
  refused: (err: unknown) => Error | undefined,
  o: StartRetry,
  region: string,
): Promise<T> {
  const end = performance.now() + o.budgetMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return await call(attempt);
    } catch (err) {
      const known = refused(err);
      if (known) throw known;
      const kind = classifyError(err);
      const wait = backoffDelay(attempt, o.retry, o.random);
      const retryable = kind === "throttle" || kind === "transient";
      if (retryable && performance.now() + wait < end) {
        o.logger.warn(
          { operation, error: errorName(err), attempt: attempt + 1, retryInMs: wait },
          `marketmeter: ${operation} failed at start-up; retrying`,
        );
        await sleep(wait);
        continue;
      }
      throw new MarketplaceError(
        retryable ? "AWS_UNAVAILABLE" : "AWS_REJECTED",
        `${operation} failed (${errorName(err)}) after ${attempt + 1} attempt(s) at start-up: check network access to the AWS Marketplace Metering endpoint in ${region} and start again`,
        { cause: err, details: { awsError: errorName(err), attempts: attempt + 1 } },
      );
    }
  }
}

/** Calls RegisterUsage (fresh nonce, bounded retries), then verifies the signature when a key is given. */
export async function registerUsage(o: RegisterOptions): Promise<RegisterResult> {
  const fixCtx: FixContext = {
    ...o.fix,
    operation: "RegisterUsage",
    productCode: o.productCode,
    publicKeyVersion: o.publicKeyVersion,
  };
  const deadline = callDeadlineOf(o.client);
  let nonce = "";
  let attempts = 0;
  const out: RegisterUsageCommandOutput = await startCall(
    "RegisterUsage",
    (attempt) => {
      // A fresh nonce per attempt: a recorded answer to an earlier request cannot be replayed.
      nonce = randomBytes(16).toString("hex");
      attempts = attempt + 1;
      return withDeadline("RegisterUsage", deadline, (abortSignal) =>
        o.client.send(
          new RegisterUsageCommand({
            ProductCode: o.productCode,
            PublicKeyVersion: o.publicKeyVersion,
            Nonce: nonce,
          }),
          { abortSignal },
        ),
      );
    },
    (err) => refusal(err, fixCtx),
    o,
    o.fix.region,
  );
  const keyRotationAt = out.PublicKeyRotationTimestamp;
  if (keyRotationAt)
    o.logger.warn(
      { publicKeyVersion: o.publicKeyVersion, rotation: keyRotationAt.toISOString() },
      "marketmeter: AWS Marketplace says this public key version expired: set deployment.publicKeyVersion (and deployment.publicKey) to the current version and roll out a new image",
    );
  if (!o.publicKey) {
    o.logger.info({}, "marketmeter: RegisterUsage signature not verified (no deployment.publicKey given)");
    return { claims: undefined, verified: false, keyRotationAt, attempts };
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
  return { claims, verified: true, keyRotationAt, attempts };
}
