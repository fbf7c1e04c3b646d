/**
 * The single place that creates and configures AWS SDK clients. Everything else in the core receives
 * clients from here, so region, endpoint, credentials and retry policy are decided once and the core
 * never reads `process.env`.
 */
import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { MarketplaceError } from "../errors/index.js";

/** Static credentials or an async provider of them (the SDK's `AwsCredentialIdentityProvider`). */
export type AwsCredentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string; expiration?: Date }
  | (() => Promise<{
      accessKeyId: string;
      secretAccessKey: string;
      sessionToken?: string;
      expiration?: Date;
    }>);

/**
 * How marketmeter talks to AWS. Either describe the connection (`region`, `endpoint`, `credentials`…)
 * or inject ready-made clients (`client`, `entitlementClient`).
 *
 * @example
 * createMarketplace({ aws: { region: "us-east-1" }, … })
 * createMarketplace({ aws: { region: "us-east-1", endpoint: "http://127.0.0.1:4566", credentials: { accessKeyId: "x", secretAccessKey: "y" } }, … })
 * createMarketplace({ aws: { client: new MarketplaceMeteringClient({ region: "eu-west-1" }) }, … })
 */
export interface AwsOptions {
  /**
   * The Region to meter in (BatchMeterUsage is regional; AWS de-duplicates per Region, so keep it fixed).
   * @default "us-east-1"
   */
  region?: string;
  /** A custom endpoint, used verbatim (e.g. the local emulator). @default the AWS endpoint of the Region */
  endpoint?: string;
  /** Credentials; when left out the SDK's default provider chain is used. @default SDK default chain */
  credentials?: AwsCredentials;
  /**
   * Attempts the SDK makes per call before our own retry loop sees the error. Keep it low: the reporter
   * owns retrying (durably, with back-off and pacing), and SDK-internal retries would count against the
   * 10 calls per second quota without our knowledge.
   * @default 1
   */
  maxAttempts?: number;
  /**
   * Deadline of one HTTP attempt in milliseconds, until AWS's answer arrives; the request is aborted
   * when it passes. Every call also has a hard deadline of `maxAttempts × (requestTimeoutMs +
   * connection time)` (connection time: at most 5000 ms), after which it is aborted whatever the client
   * does; the default 10000 gives 15000 ms per call, which fits `closeTimeoutMs` and a Kubernetes 30 s
   * termination grace period.
   * @default 10000
   */
  requestTimeoutMs?: number;
  /**
   * An already-configured metering client; other connection options are then ignored for metering,
   * except the call deadline (`requestTimeoutMs`, `maxAttempts`), applied with an abort signal per call.
   */
  client?: MarketplaceMeteringClient;
  /** An already-configured entitlement client (GetEntitlements). */
  entitlementClient?: MarketplaceEntitlementServiceClient;
  /**
   * Endpoint of the Entitlement service when `endpoint` is set and the entitlement API lives elsewhere.
   * @default `endpoint`
   */
  entitlementEndpoint?: string;
}

/** The clients built from {@link AwsOptions}. */
export interface AwsClients {
  metering: MarketplaceMeteringClient;
  entitlement: MarketplaceEntitlementServiceClient;
  /** The Region the metering client signs for. */
  region: string;
  /** Releases sockets of the clients this function created (injected clients are left alone). */
  destroy(): void;
}

const REGION = /^[a-z]{2}(-[a-z]+)+-\d+$/;

/** Default deadline of one HTTP attempt. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Time allowed to open a connection: at most 5 s, never more than the attempt's own deadline. */
export function connectionTimeoutMs(requestTimeoutMs: number): number {
  return Math.min(5_000, requestTimeoutMs);
}

/**
 * The hard deadline of one AWS call with these options, every SDK attempt included: `maxAttempts ×
 * (requestTimeoutMs + connection time)`. A lease must outlive it, or a second sender could take a grain
 * over while the first one's call is still out.
 *
 * @example
 * callTimeoutMs({ requestTimeoutMs: 10_000 }) // 15000
 */
export function callTimeoutMs(options: Pick<AwsOptions, "maxAttempts" | "requestTimeoutMs"> = {}): number {
  const request = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return (options.maxAttempts ?? 1) * (request + connectionTimeoutMs(request));
}

// The deadline each client's calls get, set where the client is configured; call sites only look it up.
const deadlines = new WeakMap<object, number>();

/** The call deadline of a client built or adopted by {@link createAwsClients} (else the default's). */
export function callDeadlineOf(client: object): number {
  return deadlines.get(client) ?? callTimeoutMs();
}

function callError(name: "TimeoutError" | "AbortError", message: string, cause?: unknown): Error {
  // Named like the SDK's own errors, so every classifier treats it as "no answer" (retry, uncertain).
  const err = new Error(message, cause === undefined ? undefined : { cause });
  err.name = name;
  return err;
}

/**
 * Runs one AWS call with a hard deadline: `call` gets an abort signal to pass to `client.send(command,
 * { abortSignal })`, which aborts the socket and the request at the deadline or when `signal` aborts
 * (shutdown). The promise settles by then even if the client ignores the signal.
 *
 * @example
 * const out = await withDeadline("ResolveCustomer", callDeadlineOf(client), (abortSignal) =>
 *   client.send(new ResolveCustomerCommand({ RegistrationToken }), { abortSignal }))
 */
export function withDeadline<T>(
  operation: string,
  timeoutMs: number,
  call: (abortSignal: AbortSignal) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () =>
      fail(callError("AbortError", `${operation} was aborted before AWS answered`, signal?.reason));
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: Error) => {
      done();
      controller.abort(err);
      reject(err);
    };
    if (signal?.aborted) return onAbort();
    timer = setTimeout(
      () =>
        fail(
          callError("TimeoutError", `${operation} got no answer from AWS within ${timeoutMs} ms; aborted`),
        ),
      timeoutMs,
    );
    signal?.addEventListener("abort", onAbort, { once: true });
    let pending: Promise<T>;
    try {
      pending = call(controller.signal);
    } catch (err) {
      done();
      reject(err);
      return;
    }
    pending.then(
      (v) => {
        done();
        resolve(v);
      },
      (err) => {
        done();
        reject(err);
      },
    );
  });
}

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/**
 * Validates {@link AwsOptions} and returns a normalized copy. Throws `INVALID_CONFIG` with the fix.
 *
 * @example
 * const aws = parseAwsOptions({ region: "eu-west-1" })
 */
export function parseAwsOptions(input: unknown): AwsOptions {
  if (input === undefined) return { region: "us-east-1" };
  if (typeof input !== "object" || input === null) invalid("aws must be an object");
  const o = input as Record<string, unknown>;
  const known = new Set([
    "region",
    "endpoint",
    "credentials",
    "maxAttempts",
    "requestTimeoutMs",
    "client",
    "entitlementClient",
    "entitlementEndpoint",
  ]);
  for (const k of Object.keys(o)) if (!known.has(k)) invalid(`aws.${k} is not a known option`);
  if (o.region !== undefined && (typeof o.region !== "string" || !REGION.test(o.region)))
    invalid('aws.region must be an AWS Region name such as "us-east-1"');
  for (const k of ["endpoint", "entitlementEndpoint"] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== "string") invalid(`aws.${k} must be a URL string`);
    let url: URL;
    try {
      url = new URL(v);
    } catch {
      invalid(`aws.${k} must be an absolute URL such as "http://127.0.0.1:4566"`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") invalid(`aws.${k} must use http or https`);
  }
  if (o.credentials !== undefined) {
    const c = o.credentials as Record<string, unknown>;
    const ok =
      typeof c === "function" ||
      (typeof c === "object" &&
        c !== null &&
        typeof c.accessKeyId === "string" &&
        typeof c.secretAccessKey === "string");
    if (!ok)
      invalid(
        "aws.credentials must be { accessKeyId, secretAccessKey, sessionToken? } or a provider function",
      );
  }
  if (
    o.maxAttempts !== undefined &&
    (!Number.isSafeInteger(o.maxAttempts) || (o.maxAttempts as number) < 1 || (o.maxAttempts as number) > 10)
  )
    invalid("aws.maxAttempts must be an integer from 1 to 10");
  if (
    o.requestTimeoutMs !== undefined &&
    (!Number.isSafeInteger(o.requestTimeoutMs) || (o.requestTimeoutMs as number) < 1)
  )
    invalid("aws.requestTimeoutMs must be a positive integer (milliseconds)");
  if (o.client !== undefined && !(o.client instanceof MarketplaceMeteringClient) && !hasSend(o.client))
    invalid("aws.client must be a MarketplaceMeteringClient");
  if (
    o.entitlementClient !== undefined &&
    !(o.entitlementClient instanceof MarketplaceEntitlementServiceClient) &&
    !hasSend(o.entitlementClient)
  )
    invalid("aws.entitlementClient must be a MarketplaceEntitlementServiceClient");
  return { region: "us-east-1", ...(o as AwsOptions) };
}

function hasSend(v: unknown): boolean {
  return typeof v === "object" && v !== null && typeof (v as { send?: unknown }).send === "function";
}

/**
 * Builds the metering and entitlement clients from one set of options. Injected clients are used as
 * they are; otherwise both clients share region, credentials, endpoint and a low SDK retry count.
 *
 * @example
 * const { metering, entitlement } = createAwsClients({ region: "us-east-1" })
 */
export function createAwsClients(options?: AwsOptions): AwsClients {
  const aws = parseAwsOptions(options);
  const region = aws.region ?? "us-east-1";
  const owned: Array<{ destroy(): void }> = [];
  const requestTimeout = aws.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const common = {
    region,
    maxAttempts: aws.maxAttempts ?? 1,
    ...(aws.credentials ? { credentials: aws.credentials } : {}),
    // Without throwOnRequestTimeout the handler only logs a warning and the call waits forever.
    requestHandler: {
      requestTimeout,
      connectionTimeout: connectionTimeoutMs(requestTimeout),
      throwOnRequestTimeout: true,
    },
  };
  let metering = aws.client;
  if (!metering) {
    metering = new MarketplaceMeteringClient({
      ...common,
      ...(aws.endpoint ? { endpoint: aws.endpoint } : {}),
    });
    owned.push(metering);
  }
  let entitlement = aws.entitlementClient;
  if (!entitlement) {
    const endpoint = aws.entitlementEndpoint ?? aws.endpoint;
    entitlement = new MarketplaceEntitlementServiceClient({
      ...common,
      ...(endpoint ? { endpoint } : {}),
    });
    owned.push(entitlement);
  }
  // Injected clients too: the abort signal per call bounds them whatever their own settings are.
  const deadline = callTimeoutMs(aws);
  deadlines.set(metering, deadline);
  deadlines.set(entitlement, deadline);
  return {
    metering,
    entitlement,
    region,
    destroy() {
      for (const c of owned) c.destroy();
    },
  };
}
