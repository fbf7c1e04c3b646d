import { type KeyObject, X509Certificate } from "node:crypto";
import { MarketplaceError } from "../errors/index.js";
import type { Clock } from "../runtime/index.js";

/** The part of `fetch` the certificate cache uses (inject your own, e.g. one with a proxy). */
export type FetchLike = (
  url: string,
  init: { signal: AbortSignal; redirect: "error"; method: "GET" },
) => Promise<{
  ok: boolean;
  status: number;
  headers: { get(name: string): string | null };
  body: ReadableStream<Uint8Array> | null;
}>;

export interface CertificateCacheOptions {
  fetch: FetchLike;
  clock: Clock;
  /**
   * Real time for certificate validity (not the business clock, which tests may freeze or move).
   * @default Date.now
   */
  certificateClock?: Clock;
  timeoutMs: number;
  maxBytes: number;
  maxEntries: number;
  ttlMs: number;
}

function unauthorized(message: string, cause?: unknown): MarketplaceError {
  return new MarketplaceError("UNAUTHORIZED", message, { cause, details: { httpStatus: 403 } });
}

/**
 * Reads at most `maxBytes` of a response body, cancelling the stream as soon as it grows past the limit.
 */
export async function readLimited(
  body: ReadableStream<Uint8Array> | null,
  maxBytes: number,
): Promise<Buffer | undefined> {
  if (!body) return Buffer.alloc(0);
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * SNS signing certificates by URL: fetched once (concurrent requests share one fetch), kept for `ttlMs`,
 * at most `maxEntries` of them (the least recently used is dropped). Failures are not cached.
 */
export class CertificateCache {
  readonly #o: CertificateCacheOptions;
  readonly #entries = new Map<string, { key: KeyObject; expiresAt: number; validTo: number }>();
  readonly #inflight = new Map<string, Promise<KeyObject>>();
  fetches = 0;

  constructor(options: CertificateCacheOptions) {
    this.#o = options;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(url: string): Promise<KeyObject> {
    const now = this.#o.clock();
    const hit = this.#entries.get(url);
    if (hit && hit.expiresAt > now && hit.validTo > (this.#o.certificateClock ?? Date.now)()) {
      this.#entries.delete(url);
      this.#entries.set(url, hit);
      return Promise.resolve(hit.key);
    }
    if (hit) this.#entries.delete(url);
    let pending = this.#inflight.get(url);
    if (!pending) {
      pending = this.#load(url).finally(() => this.#inflight.delete(url));
      this.#inflight.set(url, pending);
    }
    return pending;
  }

  async #load(url: string): Promise<KeyObject> {
    this.fetches++;
    let pem: Buffer | undefined;
    try {
      const res = await this.#o.fetch(url, {
        method: "GET",
        redirect: "error",
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      if (!res.ok) throw unauthorized(`fetching the SNS signing certificate failed with HTTP ${res.status}`);
      const length = Number(res.headers.get("content-length") ?? "0");
      if (length > this.#o.maxBytes) throw unauthorized("the SNS signing certificate is larger than allowed");
      pem = await readLimited(res.body, this.#o.maxBytes);
      if (pem === undefined) throw unauthorized("the SNS signing certificate is larger than allowed");
    } catch (cause) {
      if (cause instanceof MarketplaceError) throw cause;
      throw unauthorized("fetching the SNS signing certificate failed", cause);
    }
    let key: KeyObject;
    let validTo: number;
    try {
      const cert = new X509Certificate(pem);
      key = cert.publicKey;
      validTo = Date.parse(cert.validTo);
      const validFrom = Date.parse(cert.validFrom);
      const realNow = (this.#o.certificateClock ?? Date.now)();
      // An expired (or not yet valid) certificate signs nothing we accept.
      if (!(realNow >= validFrom && realNow <= validTo))
        throw unauthorized("the SNS signing certificate is outside its validity period");
    } catch (cause) {
      if (cause instanceof MarketplaceError) throw cause;
      throw unauthorized("the SNS signing certificate is not a valid X.509 certificate", cause);
    }
    if (key.asymmetricKeyType !== "rsa")
      throw unauthorized("the SNS signing certificate does not hold an RSA key");
    this.#entries.set(url, { key, validTo, expiresAt: this.#o.clock() + this.#o.ttlMs });
    while (this.#entries.size > this.#o.maxEntries)
      this.#entries.delete(this.#entries.keys().next().value as string);
    return key;
  }
}
