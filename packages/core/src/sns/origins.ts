import { MarketplaceError } from "../errors/index.js";

// SNS serves signing certificates and confirmation links from sns.<region>.amazonaws.com (.com.cn in China).
const SNS_HOST = /^sns\.[a-z]{2}(?:-[a-z]+)+-\d+\.amazonaws\.com(?:\.cn)?$/;

/**
 * Normalizes the extra origins a caller trusts (for example the local emulator, `http://127.0.0.1:4566`)
 * to `scheme://host[:port]`. Throws `INVALID_CONFIG` for anything that is not an http(s) origin.
 */
export function normalizeOrigins(origins: unknown, option: string): ReadonlySet<string> {
  if (origins === undefined) return new Set();
  if (!Array.isArray(origins))
    throw new MarketplaceError("INVALID_CONFIG", `${option} must be an array of origins`);
  const out = new Set<string>();
  for (const o of origins) {
    let url: URL | undefined;
    try {
      url = typeof o === "string" ? new URL(o) : undefined;
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== "https:" && url.protocol !== "http:") || url.username || url.password)
      throw new MarketplaceError(
        "INVALID_CONFIG",
        `${option} entries must be origins such as "https://sns.example.com" or "http://127.0.0.1:4566" (got ${JSON.stringify(String(o).slice(0, 80))})`,
      );
    out.add(url.origin);
  }
  return out;
}

/**
 * Whether SNS-supplied URLs (SigningCertURL, SubscribeURL) may be fetched: https on an SNS host of AWS, or
 * an origin the caller trusts explicitly. Certificates must also have a path ending in `.pem`. Checked
 * before any network call, so a forged message cannot make the server fetch an arbitrary URL.
 */
export function isTrustedSnsUrl(
  value: string,
  trustedOrigins: ReadonlySet<string>,
  kind: "certificate" | "subscribe",
): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (kind === "certificate" && !url.pathname.endsWith(".pem")) return false;
  if (trustedOrigins.has(url.origin)) return true;
  return url.protocol === "https:" && url.port === "" && SNS_HOST.test(url.hostname);
}
