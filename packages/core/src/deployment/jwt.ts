/**
 * Verifying the RegisterUsage `Signature`: an RS256 JWT signed with the AWS Marketplace key of the
 * requested public key version. A replayed or forged answer would let an unpaid task run.
 */
import { createPublicKey, type KeyObject, verify } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";

/** The claims marketmeter checks (others are kept as they are). */
export interface RegistrationClaims {
  productCode?: string;
  nonce?: string;
  publicKeyVersion?: number;
  customerAWSAccountId?: string;
  /** Issued at (epoch seconds). */
  iat?: number;
  [claim: string]: unknown;
}

export interface VerifyExpectations {
  /** PEM (SPKI) or a KeyObject. */
  publicKey: string | KeyObject;
  nonce: string;
  productCode: string;
  /** Business time now (epoch ms). */
  now: number;
  /** Largest accepted distance between `iat` and now. @default 300000 */
  maxSkewMs?: number;
}

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_SIGNATURE", `RegisterUsage signature refused: ${message}`);
}

const B64URL = /^[A-Za-z0-9_-]*$/;

function part(text: string | undefined, name: string): Record<string, unknown> {
  if (text === undefined || text === "" || !B64URL.test(text)) invalid(`the ${name} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    invalid(`the ${name} is not JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    invalid(`the ${name} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Checks signature (RS256 with `publicKey`), nonce, product code and issue time; returns the claims.
 * Throws `INVALID_SIGNATURE` saying which check failed.
 *
 * @example
 * const claims = verifyRegistration(out.Signature, { publicKey: pem, nonce, productCode, now: Date.now() })
 */
export function verifyRegistration(token: unknown, expect: VerifyExpectations): RegistrationClaims {
  if (typeof token !== "string" || token.length > 16_384) invalid("it is not a JWT string");
  const parts = token.split(".");
  if (parts.length !== 3) invalid("a JWT has three dot-separated parts");
  const [h, p, s] = parts as [string, string, string];
  const header = part(h, "header");
  if (header.alg !== "RS256") invalid(`algorithm ${JSON.stringify(header.alg)} is not RS256`);
  const claims = part(p, "payload") as RegistrationClaims;
  if (s === "" || !B64URL.test(s)) invalid("the signature is not base64url");
  let key: KeyObject;
  try {
    key = typeof expect.publicKey === "string" ? createPublicKey(expect.publicKey) : expect.publicKey;
  } catch (cause) {
    throw new MarketplaceError("INVALID_CONFIG", "deployment.publicKey is not a PEM public key", { cause });
  }
  if (!verify("sha256", Buffer.from(`${h}.${p}`), key, Buffer.from(s, "base64url")))
    invalid("the signature does not verify with the public key of this key version");
  if (claims.nonce !== expect.nonce) invalid("the nonce is not the one sent (a replayed answer?)");
  if (claims.productCode !== expect.productCode)
    invalid(`it names product ${JSON.stringify(claims.productCode)}, not ${expect.productCode}`);
  const skew = expect.maxSkewMs ?? 300_000;
  if (typeof claims.iat !== "number" || Math.abs(claims.iat * 1000 - expect.now) > skew)
    invalid("its issue time (iat) is missing or too far from now (check the clock)");
  return claims;
}
