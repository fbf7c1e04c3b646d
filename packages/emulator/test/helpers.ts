process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { MarketplaceEntitlementServiceClient } from "@aws-sdk/client-marketplace-entitlement-service";
import {
  BatchMeterUsageCommand,
  MarketplaceMeteringClient,
  MarketplaceMeteringServiceException,
  type UsageRecord,
} from "@aws-sdk/client-marketplace-metering";
import { expect } from "vitest";
import { DEMO, demoConfig, type Emulator, type EmulatorConfig, startEmulator } from "../src/index.js";

export { DEMO };
export const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
export const NOW = new Date(DEMO.now);
export const at = (iso: string): Date => new Date(iso.includes("T") ? iso : `2026-07-15T${iso}Z`);
/** 2026-07-15T09:00:00Z */
export const H09 = at("09:00:00");
/** 2026-07-15T10:00:00Z */
export const H10 = at("10:00:00");
export const NO_LIMITS = {
  BatchMeterUsage: 0,
  MeterUsage: 0,
  RegisterUsage: 0,
  GetEntitlements: 0,
  ResolveCustomer: 0,
};

/**
 * Starts an emulator on the demo fixtures with the clock frozen at 2026-07-15T10:30:00Z. Rate
 * limits are off (tests send bursts) unless `rateLimits: true`.
 */
export async function startTestEmulator(
  opts: { rateLimits?: boolean; config?: EmulatorConfig; seed?: number; rateClock?: () => number } = {},
): Promise<Emulator> {
  const base = demoConfig({ frozen: true });
  return startEmulator({
    config: {
      ...base,
      ...opts.config,
      profile: { ...(opts.rateLimits ? {} : { rateLimits: NO_LIMITS }), ...opts.config?.profile },
    },
    seed: opts.seed,
    rateClock: opts.rateClock,
  });
}

export function metering(
  emu: Emulator,
  region = "us-east-1",
  headers?: Record<string, string>,
): MarketplaceMeteringClient {
  const client = new MarketplaceMeteringClient({
    region,
    endpoint: emu.endpoint,
    credentials,
    maxAttempts: 1,
  });
  if (headers) addHeaders(client, headers);
  return client;
}

export function entitlement(emu: Emulator, region = "us-east-1"): MarketplaceEntitlementServiceClient {
  return new MarketplaceEntitlementServiceClient({
    region,
    endpoint: emu.endpoint,
    credentials,
    maxAttempts: 1,
  });
}

/** Adds emulator-only headers (x-emu-resource-id, …) to every request of a client. */
export function addHeaders(client: MarketplaceMeteringClient, headers: Record<string, string>): void {
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = (args as { request?: { headers?: Record<string, string> } }).request;
      if (request?.headers) Object.assign(request.headers, headers);
      return next(args);
    },
    { step: "build", name: "emulatorHeaders" },
  );
}

/** Concurrent-Agreements usage record (no ProductCode in the request). */
export function ca(
  ts: Date | string,
  dim: string,
  qty?: number,
  license: string = DEMO.L1,
  account: string = DEMO.A1,
): UsageRecord {
  return {
    Timestamp: typeof ts === "string" ? at(ts) : ts,
    CustomerAWSAccountId: account,
    LicenseArn: license,
    Dimension: dim,
    ...(qty === undefined ? {} : { Quantity: qty }),
  };
}

export function bmu(client: MarketplaceMeteringClient, UsageRecords: UsageRecord[], ProductCode?: string) {
  return client.send(
    new BatchMeterUsageCommand({ UsageRecords, ...(ProductCode === undefined ? {} : { ProductCode }) }),
  );
}

/** Awaits a rejection and checks it is the modeled exception class. */
export async function rejects<T>(p: Promise<unknown>, cls: abstract new (...args: never[]) => T): Promise<T> {
  const err = await p.then(
    () => {
      throw new Error(`expected ${cls.name}, but the call succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(cls);
  return err as T;
}

/** Awaits a rejection with an unmodeled error name (e.g. ValidationException): a generic service exception. */
export async function rejectsNamed(
  p: Promise<unknown>,
  name: string,
  status = 400,
): Promise<MarketplaceMeteringServiceException> {
  const err = (await p.then(
    () => {
      throw new Error(`expected ${name}, but the call succeeded`);
    },
    (e: unknown) => e,
  )) as MarketplaceMeteringServiceException;
  expect(err).toBeInstanceOf(MarketplaceMeteringServiceException);
  expect(err.name).toBe(name);
  expect(err.$metadata.httpStatusCode).toBe(status);
  return err;
}

export interface RawResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body; read members with {@link member}. */
  json: unknown;
}

/** The member of a parsed body at `path` (`undefined` when a step is missing), for assertions. */
export function member(value: unknown, ...path: Array<string | number>): unknown {
  let v = value;
  for (const step of path) {
    if (typeof v !== "object" || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[step];
  }
  return v;
}

/** A hand-made SigV4-looking Authorization header (the emulator reads only the credential scope). */
export const authHeader = (region = "us-east-1") =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260715/${region}/aws-marketplace/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=${"0".repeat(64)}`;

/** POST / with awsJson1_1 headers; for requests the SDK cannot express. */
export async function raw(
  emu: Emulator,
  target: string | undefined,
  body: string | Uint8Array | object,
  opts: { region?: string; headers?: Record<string, string>; auth?: boolean } = {},
): Promise<RawResponse> {
  const headers: Record<string, string> = {
    "content-type": "application/x-amz-json-1.1",
    "x-amz-date": "20260715T103000Z",
    ...(target ? { "x-amz-target": target } : {}),
    ...(opts.auth === false ? {} : { authorization: authHeader(opts.region) }),
    ...opts.headers,
  };
  const payload = typeof body === "string" || body instanceof Uint8Array ? body : JSON.stringify(body);
  const res = await fetch(`${emu.endpoint}/`, { method: "POST", headers, body: payload });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export const BMU = "AWSMPMeteringService.BatchMeterUsage";
export const METER = "AWSMPMeteringService.MeterUsage";
export const REGISTER = "AWSMPMeteringService.RegisterUsage";
export const RESOLVE = "AWSMPMeteringService.ResolveCustomer";
export const GET_ENT = "AWSMPEntitlementService.GetEntitlements";
export const epoch = (d: Date) => d.getTime() / 1000;
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
