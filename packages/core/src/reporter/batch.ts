/**
 * Shaping grains into BatchMeterUsage calls: one record per grain stamped at the start of its hour, at
 * most 25 records and less than 1 MB per call, one product and one identity mode per call, and no
 * ProductCode on Concurrent Agreements calls.
 */
import type { BatchMeterUsageRequest, UsageRecord } from "@aws-sdk/client-marketplace-metering";
import { type Identity, type IdentityMode, identityFromKey, identityMode } from "../identity/index.js";
import type { StoredGrain } from "../stores/index.js";
import { MAX_ALLOCATIONS, MAX_TAGS, tagsFromKey } from "../usage/index.js";

export const MAX_RECORDS_PER_CALL = 25;
/** Serialized request size we stay under (AWS: < 1 MB), with headroom for SDK framing. */
export const MAX_REQUEST_BYTES = 1_000_000;

export interface PreparedRecord {
  grain: StoredGrain;
  identity: Identity;
  record: UsageRecord;
  /** Serialized size of the record in the request body. */
  bytes: number;
  /** Allocations folded into the untagged share to respect AWS limits. */
  foldedAllocations: number;
}

export interface Batch {
  productCode: string;
  mode: IdentityMode;
  records: PreparedRecord[];
}

/** The correlation key of a record: identity fields, dimension and hour (never the position). */
export function recordKey(r: UsageRecord): string {
  const ts = r.Timestamp instanceof Date ? r.Timestamp.getTime() : Number(r.Timestamp) * 1000;
  const hour = Math.floor(ts / 3_600_000) * 3_600_000;
  return `${r.CustomerIdentifier ?? ""}|${r.CustomerAWSAccountId ?? ""}|${r.LicenseArn ?? ""}|${r.Dimension ?? ""}|${hour}`;
}

/** JSON size of a record as the SDK puts it on the wire (Timestamp as epoch seconds). */
export function wireBytes(r: UsageRecord): number {
  return Buffer.byteLength(
    JSON.stringify({ ...r, Timestamp: Math.round((r.Timestamp as Date).getTime() / 1000) }),
  );
}

/**
 * Allocations as AWS accepts them: every share of the grain (the untagged one without Tags), at most
 * 2,500 of them and at most 5 distinct tag keys over the list. Shares beyond those limits are folded into
 * the untagged share, so the quantity billed is always right even when tag detail has to be dropped.
 */
function allocationsOf(
  grain: StoredGrain,
  maxBytes: number,
): { list: UsageRecord["UsageAllocations"]; folded: number } {
  const entries = Object.entries(grain.allocations ?? {}).filter(([, q]) => q > 0);
  if (entries.length === 0 || (entries.length === 1 && entries[0]?.[0] === ""))
    return { list: undefined, folded: 0 };
  // Biggest shares first: if something must be folded, the detail lost is the smallest.
  entries.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const keys = new Set<string>();
  let untagged = 0;
  let folded = 0;
  let bytes = 0;
  const kept: Array<{ AllocatedUsageQuantity: number; Tags?: Array<{ Key: string; Value: string }> }> = [];
  for (const [k, q] of entries) {
    if (k === "") {
      untagged += q;
      continue;
    }
    const tags = tagsFromKey(k) ?? []; // k is not "" here, so there are tags
    const newKeys = tags.filter((t) => !keys.has(t.Key)).length;
    const size = k.length + 64;
    if (kept.length >= MAX_ALLOCATIONS - 1 || keys.size + newKeys > MAX_TAGS || bytes + size > maxBytes) {
      untagged += q;
      folded++;
      continue;
    }
    for (const t of tags) keys.add(t.Key);
    bytes += size;
    kept.push({ AllocatedUsageQuantity: q, Tags: tags });
  }
  if (kept.length === 0) return { list: undefined, folded };
  if (untagged > 0) kept.push({ AllocatedUsageQuantity: untagged });
  return { list: kept, folded };
}

/** One usage record for a grain. */
export function prepareRecord(grain: StoredGrain): PreparedRecord {
  const identity = identityFromKey(grain.identityKey);
  const record: UsageRecord = {
    // Always the start of the hour: the SDK rounds to the second, and a mid-hour stamp could slip into
    // the next hour or make a resend differ from the first attempt.
    Timestamp: new Date(grain.hour),
    Dimension: grain.dimension,
    Quantity: grain.quantity,
  };
  if (identity.customerIdentifier) record.CustomerIdentifier = identity.customerIdentifier;
  else {
    record.CustomerAWSAccountId = identity.customerAWSAccountId;
    if (identity.licenseArn) record.LicenseArn = identity.licenseArn;
  }
  const { list, folded } = allocationsOf(grain, MAX_REQUEST_BYTES - 4096);
  if (list) record.UsageAllocations = list;
  return { grain, identity, record, bytes: wireBytes(record), foldedAllocations: folded };
}

/** Groups records by product and identity mode, then cuts them into calls of ≤25 records and <1 MB. */
export function buildBatches(records: readonly PreparedRecord[], maxBytes = MAX_REQUEST_BYTES): Batch[] {
  const groups = new Map<string, Batch[]>();
  const out: Batch[] = [];
  for (const r of records) {
    const mode = identityMode(r.identity);
    const gk = `${r.identity.productCode}|${mode}`;
    let list = groups.get(gk);
    if (!list) groups.set(gk, (list = []));
    let current = list[list.length - 1];
    const size = (b: Batch) => b.records.reduce((n, x) => n + x.bytes + 1, 64);
    if (
      !current ||
      current.records.length >= MAX_RECORDS_PER_CALL ||
      size(current) + r.bytes + 1 > maxBytes
    ) {
      current = { productCode: r.identity.productCode, mode, records: [] };
      list.push(current);
      out.push(current);
    }
    current.records.push(r);
  }
  return out;
}

/** The request of a batch: ProductCode only for legacy and account modes. */
export function requestOf(batch: Batch): BatchMeterUsageRequest {
  const input: BatchMeterUsageRequest = { UsageRecords: batch.records.map((r) => r.record) };
  // Concurrent Agreements calls must not carry a ProductCode (AWS refuses ProductCode with LicenseArn).
  if (batch.mode !== "license") input.ProductCode = batch.productCode;
  return input;
}

/** Serialized size of a whole request. */
export function requestBytes(batch: Batch): number {
  const input = requestOf(batch);
  return Buffer.byteLength(
    JSON.stringify({
      ...input,
      UsageRecords: (input.UsageRecords ?? []).map((r) => ({
        ...r,
        Timestamp: Math.round((r.Timestamp as Date).getTime() / 1000),
      })),
    }),
  );
}
