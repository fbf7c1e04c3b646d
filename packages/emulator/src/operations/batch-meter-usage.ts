import { LICENSE_ARN } from "../config.js";
import { ApiError } from "../errors.js";
import type { BilledRecord } from "../types.js";
import { EpochSeconds } from "../wire/cbor.js";
import {
  ACCOUNT_PATTERN,
  type Checked,
  INT32_MAX,
  PRODUCT_CODE_PATTERN,
  present,
  Violations,
} from "../wire/shapes.js";
import {
  type Allocation,
  batchWindowOk,
  checkAllocations,
  checkTags,
  isoHour,
  type OpContext,
  type OpResult,
  toAllocations,
} from "./context.js";

interface UsageRecordIn {
  Timestamp?: number;
  CustomerIdentifier?: string;
  Dimension?: string;
  Quantity?: number;
  UsageAllocations?: Allocation[];
  CustomerAWSAccountId?: string;
  LicenseArn?: string;
}

export interface BatchMeterUsageInput {
  UsageRecords?: UsageRecordIn[];
  ProductCode?: string;
}

/** A usage record after the shape check: the members the service requires are present. */
type ValidUsageRecord = Checked<UsageRecordIn, "Timestamp" | "Dimension">;

/** BatchMeterUsage input after its shape check. */
export interface ValidBatchMeterUsageInput {
  UsageRecords: ValidUsageRecord[];
  ProductCode?: string;
}

/** Shape constraints (required, lengths, ranges, patterns) → ValidationException. */
export function validateBatchMeterUsage(input: BatchMeterUsageInput): ValidBatchMeterUsageInput {
  const v = new Violations();
  if (input.UsageRecords === undefined) v.required("usageRecords");
  else if (input.UsageRecords.length > 25) {
    v.add(
      `[${input.UsageRecords.length} records]`,
      "usageRecords",
      "Member must have length less than or equal to 25",
    );
  }
  if (input.ProductCode !== undefined) {
    if (input.ProductCode.length > 255)
      v.add(input.ProductCode, "productCode", "Member must have length less than or equal to 255");
    if (!PRODUCT_CODE_PATTERN.test(input.ProductCode)) {
      v.add(
        input.ProductCode,
        "productCode",
        "Member must satisfy regular expression pattern: ^[-a-zA-Z0-9/=:_.@]*$",
      );
    }
  }
  (input.UsageRecords ?? []).forEach((r, i) => {
    const p = `usageRecords.${i + 1}.member`;
    if (r.Timestamp === undefined) v.required(`${p}.timestamp`);
    if (r.Dimension === undefined) v.required(`${p}.dimension`);
    else if (r.Dimension.length < 1)
      v.add(r.Dimension, `${p}.dimension`, "Member must have length greater than or equal to 1");
    else if (r.Dimension.length > 255)
      v.add(r.Dimension, `${p}.dimension`, "Member must have length less than or equal to 255");
    if (r.Quantity !== undefined && (r.Quantity < 0 || r.Quantity > INT32_MAX)) {
      v.add(
        r.Quantity,
        `${p}.quantity`,
        `Member must have value ${r.Quantity < 0 ? "greater than or equal to 0" : "less than or equal to 2147483647"}`,
      );
    }
    if (r.CustomerIdentifier !== undefined && r.CustomerIdentifier.length > 255) {
      v.add(
        r.CustomerIdentifier,
        `${p}.customerIdentifier`,
        "Member must have length less than or equal to 255",
      );
    }
    if (r.CustomerAWSAccountId !== undefined) {
      if (r.CustomerAWSAccountId.length < 1)
        v.add(
          r.CustomerAWSAccountId,
          `${p}.customerAWSAccountId`,
          "Member must have length greater than or equal to 1",
        );
      else if (r.CustomerAWSAccountId.length > 255) {
        v.add(
          r.CustomerAWSAccountId,
          `${p}.customerAWSAccountId`,
          "Member must have length less than or equal to 255",
        );
      } else if (!ACCOUNT_PATTERN.test(r.CustomerAWSAccountId)) {
        v.add(
          r.CustomerAWSAccountId,
          `${p}.customerAWSAccountId`,
          "Member must satisfy regular expression pattern: ^[0-9]+$",
        );
      }
    }
  });
  v.throwIfAny();
  // Each missing member was recorded above; this only tells the compiler what the check proved.
  const records = input.UsageRecords ?? [];
  if (!records.every((r) => present(r, ["Timestamp", "Dimension"])))
    throw new ApiError("ValidationException", "A usage record misses its timestamp or dimension.");
  return { ...input, UsageRecords: records };
}

/** The submitted record as the service echoes it (submitted fields only, submitted timestamp). */
function echo(r: ValidUsageRecord): Record<string, unknown> {
  const out: Record<string, unknown> = { Timestamp: new EpochSeconds(r.Timestamp) };
  if (r.CustomerIdentifier !== undefined) out.CustomerIdentifier = r.CustomerIdentifier;
  out.Dimension = r.Dimension;
  if (r.Quantity !== undefined) out.Quantity = r.Quantity;
  if (r.UsageAllocations !== undefined) out.UsageAllocations = r.UsageAllocations;
  if (r.CustomerAWSAccountId !== undefined) out.CustomerAWSAccountId = r.CustomerAWSAccountId;
  if (r.LicenseArn !== undefined) out.LicenseArn = r.LicenseArn;
  return out;
}

const err = (type: string, message: string) => new ApiError(type, message);

/** BatchMeterUsage after envelope, shape, Region and throttling checks. */
export function batchMeterUsage(ctx: OpContext, input: ValidBatchMeterUsageInput): OpResult {
  const { state, now } = ctx;
  const records = input.UsageRecords;
  if (records.length === 0) return { output: { Results: [], UnprocessedRecords: [] }, summary: "0 records" };
  // An empty string carries @default("") in the model: it means "not sent".
  const productCodeIn = input.ProductCode || undefined;
  const ci = (r: UsageRecordIn) => r.CustomerIdentifier || undefined;
  // Concurrent Agreements: the seller's license each record names (checked once for the whole batch).
  const licenseOf = (r: UsageRecordIn) => {
    const l = r.LicenseArn === undefined ? undefined : state.licenses.get(r.LicenseArn);
    const p = l && state.products.get(l.productCode);
    if (!l || !p || p.sellerAccountId !== state.sellerAccountId) {
      throw err("InvalidLicenseException", `LicenseArn '${r.LicenseArn}' was not found for this seller.`);
    }
    return l;
  };

  // --- identity mode, one product per call
  for (const r of records) {
    if (ci(r) && r.CustomerAWSAccountId !== undefined) {
      throw err(
        "ValidationException",
        "CustomerIdentifier and CustomerAWSAccountId are mutually exclusive; send only one.",
      );
    }
  }
  const anyLicense = records.some((r) => r.LicenseArn !== undefined);
  for (const r of records) {
    if (r.LicenseArn !== undefined && !LICENSE_ARN.test(r.LicenseArn)) {
      throw err(
        "InvalidLicenseException",
        `LicenseArn '${r.LicenseArn.slice(0, 200)}' is not a valid license ARN.`,
      );
    }
  }
  if (productCodeIn && anyLicense) {
    throw err(
      "ValidationException",
      "ProductCode must not be sent with LicenseArn; omit ProductCode for Concurrent Agreements usage.",
    );
  }
  for (const r of records) {
    if (r.LicenseArn !== undefined && r.CustomerAWSAccountId === undefined) {
      throw err(
        "ValidationException",
        "BatchMeterUsage requires CustomerAWSAccountId for each UsageRecord that has a LicenseArn.",
      );
    }
  }
  if (records.some(ci) && records.some((r) => r.CustomerAWSAccountId !== undefined)) {
    throw err(
      "ValidationException",
      "CustomerIdentifier and CustomerAWSAccountId cannot both be used in the same request.",
    );
  }

  let mode: "CA" | "customer" | "account";
  let productCode: string;
  if (!productCodeIn) {
    if (!anyLicense)
      throw err(
        "InvalidProductCodeException",
        "ProductCode is required unless every record carries a LicenseArn.",
      );
    if (records.some((r) => r.LicenseArn === undefined)) {
      throw err("ValidationException", "Every UsageRecord needs a LicenseArn when ProductCode is omitted.");
    }
    const codes = new Set<string>();
    for (const r of records) {
      const l = licenseOf(r);
      if (l.customerAWSAccountId !== r.CustomerAWSAccountId) {
        throw err(
          "InvalidLicenseException",
          `LicenseArn '${r.LicenseArn}' does not belong to customer ${r.CustomerAWSAccountId}.`,
        );
      }
      codes.add(l.productCode);
    }
    const [code, ...others] = codes;
    if (code === undefined || others.length > 0)
      throw err(
        "InvalidLicenseException",
        "All licenses in one BatchMeterUsage call must belong to the same product.",
      );
    mode = "CA";
    productCode = code;
  } else {
    const p = state.products.get(productCodeIn);
    if (!p || p.sellerAccountId !== state.sellerAccountId) {
      throw err(
        "InvalidProductCodeException",
        `Product code '${productCodeIn}' is not valid for this seller.`,
      );
    }
    productCode = p.productCode;
    if (p.kind === "concurrent-agreements") {
      if (records.some(ci)) {
        throw err(
          "InvalidCustomerIdentifierException",
          "CustomerIdentifier is not supported for this product; use CustomerAWSAccountId and LicenseArn.",
        );
      }
      throw err(
        "InvalidLicenseException",
        "This product uses Concurrent Agreements: send CustomerAWSAccountId and LicenseArn, without ProductCode.",
      );
    }
    if (records.some((r) => !ci(r) && r.CustomerAWSAccountId === undefined)) {
      throw err(
        "InvalidCustomerIdentifierException",
        "Each UsageRecord needs a CustomerIdentifier or a CustomerAWSAccountId.",
      );
    }
    mode = records.some(ci) ? "customer" : "account";
  }
  const product = state.products.get(productCode);
  if (!product)
    throw err("InvalidProductCodeException", `Product code '${productCode}' is not valid for this seller.`);

  // --- request-wide record checks (the whole batch fails)
  for (const r of records) {
    if (!batchWindowOk(r.Timestamp, now, state.profile)) {
      throw err(
        "TimestampOutOfBoundsException",
        `Timestamp ${r.Timestamp} is outside the allowed window (${state.profile.window}, not in a future hour, previous month closes 06:00 UTC on the 1st). The batch was not processed.`,
      );
    }
  }
  for (const r of records) {
    if (!product.dimensions.includes(r.Dimension)) {
      throw err(
        "InvalidUsageDimensionException",
        `Dimension '${r.Dimension.slice(0, 255)}' is not defined for product ${productCode}.`,
      );
    }
  }
  for (const r of records) checkTags(r.UsageAllocations, state.profile);
  for (const r of records) checkAllocations(r.UsageAllocations, r.Quantity ?? 0);
  for (const r of records) {
    if (mode === "CA") {
      const l = licenseOf(r);
      const hourEnd = Math.floor((r.Timestamp * 1000) / 3600_000) * 3600_000 + 3600_000;
      if (l.activatedAt !== undefined && l.activatedAt <= now && hourEnd <= l.activatedAt) {
        throw err(
          "InvalidLicenseException",
          `Usage at ${r.Timestamp} is before the license activation period of ${l.licenseArn}.`,
        );
      }
    } else if (mode === "customer" && state.profile.invalidCustomer === "requestError") {
      const id = ci(r) ?? "";
      if (!state.findCustomer(id, productCode)) {
        throw err(
          "InvalidCustomerIdentifierException",
          `CustomerIdentifier '${id.slice(0, 255)}' does not exist for product ${productCode}.`,
        );
      }
    }
  }

  // --- per record: injected unprocessed, subscription, first write wins
  const results: Array<Record<string, unknown>> = [];
  const unprocessed: Array<Record<string, unknown>> = [];
  const counts = { Success: 0, DuplicateRecord: 0, CustomerNotSubscribed: 0 };
  for (const r of records) {
    if (
      state.faults.unprocessed({
        Dimension: r.Dimension,
        CustomerAWSAccountId: r.CustomerAWSAccountId,
        CustomerIdentifier: ci(r),
        LicenseArn: r.LicenseArn,
        Quantity: r.Quantity,
        Timestamp: r.Timestamp,
      })
    ) {
      unprocessed.push(echo(r));
      continue;
    }
    let subscribed: boolean;
    let identity: string;
    let account = r.CustomerAWSAccountId;
    if (mode === "CA") {
      subscribed = state.licenseActive(licenseOf(r), now);
      identity = `ca|${r.CustomerAWSAccountId}|${r.LicenseArn}`;
    } else if (mode === "customer") {
      const id = ci(r);
      const c = id === undefined ? undefined : state.findCustomer(id, productCode);
      subscribed = c !== undefined && state.customerActive(c, now);
      account = c?.customerAWSAccountId;
      identity = `ci|${productCode}|${ci(r)}`;
    } else {
      subscribed =
        r.CustomerAWSAccountId !== undefined && state.accountEntitled(productCode, r.CustomerAWSAccountId);
      identity = `acct|${productCode}|${r.CustomerAWSAccountId}`;
    }
    if (!subscribed) {
      results.push({ UsageRecord: echo(r), Status: "CustomerNotSubscribed" });
      counts.CustomerNotSubscribed++;
      continue;
    }
    const hour = isoHour(r.Timestamp);
    const quantity = r.Quantity ?? 0;
    const key = `${ctx.region}|${identity}|${r.Dimension}|${hour}`;
    // The identity fields the ledger and the duplicate log show for this record.
    const who = {
      ...(ci(r) ? { customerIdentifier: ci(r) } : {}),
      ...(account ? { customerAWSAccountId: account } : {}),
      ...(r.LicenseArn ? { licenseArn: r.LicenseArn } : {}),
    };
    const first = state.grains.get(key);
    if (first) {
      if (first.quantity === quantity && state.profile.identicalResend === "success") {
        results.push({ UsageRecord: echo(r), MeteringRecordId: first.meteringRecordId, Status: "Success" });
        counts.Success++;
        continue;
      }
      state.addDuplicate({
        region: ctx.region,
        productCode,
        ...who,
        dimension: r.Dimension,
        hour,
        billedQuantity: first.quantity,
        attemptedQuantity: quantity,
        requestId: ctx.requestId,
        receivedAt: new Date(now).toISOString(),
      });
      results.push({ UsageRecord: echo(r), Status: "DuplicateRecord" });
      counts.DuplicateRecord++;
      continue;
    }
    const billed: BilledRecord = {
      region: ctx.region,
      operation: "BatchMeterUsage",
      productCode,
      ...who,
      dimension: r.Dimension,
      hour,
      timestamp: r.Timestamp,
      quantity,
      ...(r.UsageAllocations ? { allocations: toAllocations(r.UsageAllocations) } : {}),
      meteringRecordId: state.newId(),
      requestId: ctx.requestId,
      receivedAt: new Date(now).toISOString(),
    };
    state.grains.set(key, billed);
    state.addBilled(billed);
    results.push({ UsageRecord: echo(r), MeteringRecordId: billed.meteringRecordId, Status: "Success" });
    counts.Success++;
  }
  const parts = Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`);
  if (unprocessed.length) parts.push(`${unprocessed.length} Unprocessed`);
  return {
    output: { Results: results, UnprocessedRecords: unprocessed },
    summary: `${records.length} record${records.length === 1 ? "" : "s"}: ${parts.join(", ")}`,
  };
}
