import { ApiError } from "../errors.js";
import type { BilledRecord } from "../types.js";
import { type Checked, INT32_MAX, PRODUCT_CODE_PATTERN, Violations } from "../wire/shapes.js";
import {
  type Allocation,
  checkAllocations,
  checkTags,
  isoHour,
  meterUsageWindowOk,
  type OpContext,
  type OpResult,
  toAllocations,
} from "./context.js";

export interface MeterUsageInput {
  ProductCode?: string;
  Timestamp?: number;
  UsageDimension?: string;
  UsageQuantity?: number;
  DryRun?: boolean;
  UsageAllocations?: Allocation[];
  ClientToken?: string;
}

/** MeterUsage input after its shape check: the members the service requires are present. */
export type ValidMeterUsageInput = Checked<MeterUsageInput, "ProductCode" | "Timestamp" | "UsageDimension">;

export function validateMeterUsage(input: MeterUsageInput): ValidMeterUsageInput {
  const v = new Violations();
  if (input.ProductCode === undefined) v.required("productCode");
  else {
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
  if (input.Timestamp === undefined) v.required("timestamp");
  if (input.UsageDimension === undefined) v.required("usageDimension");
  else if (input.UsageDimension.length < 1 || input.UsageDimension.length > 255) {
    v.add(input.UsageDimension, "usageDimension", "Member must have length between 1 and 255");
  }
  if (input.UsageQuantity !== undefined && (input.UsageQuantity < 0 || input.UsageQuantity > INT32_MAX)) {
    v.add(input.UsageQuantity, "usageQuantity", "Member must have value between 0 and 2147483647");
  }
  if (input.ClientToken !== undefined && (input.ClientToken.length < 1 || input.ClientToken.length > 64)) {
    v.add(input.ClientToken, "clientToken", "Member must have length between 1 and 64");
  }
  return v.checked(input, ["ProductCode", "Timestamp", "UsageDimension"]);
}

/** Emulated caller of MeterUsage/RegisterUsage: the instance/task/pod, its Region, platform and buyer account. */
export function resourceOf(ctx: OpContext, defaults: { id: string; platform: string }) {
  return {
    id: ctx.header("x-emu-resource-id") || defaults.id,
    region: ctx.header("x-emu-resource-region") || ctx.region,
    platform: (ctx.header("x-emu-platform") || defaults.platform).toLowerCase(),
    account: ctx.header("x-emu-account-id") || ctx.state.defaultBuyerAccountId,
  };
}

export function meterUsage(ctx: OpContext, input: ValidMeterUsageInput): OpResult {
  const { state, now } = ctx;
  const res = resourceOf(ctx, { id: "i-emulator0000000001", platform: "ec2" });
  if (input.DryRun) {
    if (ctx.header("x-emu-dry-run-permitted") === "false") {
      throw new ApiError("UnauthorizedException", "You are not authorized to perform this operation.", 403);
    }
    throw new ApiError("DryRunOperation", "Request would have succeeded, but DryRun flag is set.", 412);
  }
  if (res.region !== ctx.region) {
    throw new ApiError(
      "InvalidEndpointRegionException",
      `The resource runs in ${res.region}; call MeterUsage in that Region, not ${ctx.region}.`,
    );
  }
  const product = state.products.get(input.ProductCode);
  if (!product)
    throw new ApiError("InvalidProductCodeException", `Product code '${input.ProductCode}' is not valid.`);
  if (!meterUsageWindowOk(input.Timestamp, now)) {
    throw new ApiError(
      "TimestampOutOfBoundsException",
      `Timestamp ${input.Timestamp} is more than 6 hours old or in a future hour.`,
    );
  }
  if (!product.dimensions.includes(input.UsageDimension)) {
    throw new ApiError(
      "InvalidUsageDimensionException",
      `Dimension '${input.UsageDimension.slice(0, 255)}' is not defined for product ${product.productCode}.`,
    );
  }
  const quantity = input.UsageQuantity ?? 0;
  checkTags(input.UsageAllocations, state.profile);
  checkAllocations(input.UsageAllocations, quantity);
  if (!res.account || !state.accountEntitled(product.productCode, res.account)) {
    throw new ApiError("CustomerNotEntitledException", "The customer is not entitled to this product.");
  }
  const hour = isoHour(input.Timestamp);
  const make = (): BilledRecord => ({
    region: ctx.region,
    operation: "MeterUsage",
    productCode: product.productCode,
    customerAWSAccountId: res.account,
    resourceId: res.id,
    dimension: input.UsageDimension,
    hour,
    timestamp: input.Timestamp,
    quantity,
    ...(input.UsageAllocations ? { allocations: toAllocations(input.UsageAllocations) } : {}),
    meteringRecordId: state.newId(),
    requestId: ctx.requestId,
    receivedAt: new Date(now).toISOString(),
  });
  if (res.platform === "agentcore") {
    // AgentCore: many reports per hour, idempotent by ClientToken only.
    if (!input.ClientToken)
      throw new ApiError("ValidationException", "ClientToken is required for AgentCore Runtime usage.");
    const fingerprint = JSON.stringify([
      input.ProductCode,
      input.Timestamp,
      input.UsageDimension,
      quantity,
      input.UsageAllocations ?? null,
    ]);
    const key = `${ctx.region}|${input.ClientToken}`;
    const seen = state.clientTokens.get(key);
    if (seen) {
      if (seen.fingerprint !== fingerprint) {
        throw new ApiError(
          "IdempotencyConflictException",
          "ClientToken was already used with different parameters.",
          409,
        );
      }
      return {
        output: { MeteringRecordId: seen.record.meteringRecordId },
        summary: `${input.UsageDimension}=${quantity} (repeat)`,
      };
    }
    const record = make();
    state.clientTokens.set(key, { record, fingerprint });
    state.addBilled(record);
    return {
      output: { MeteringRecordId: record.meteringRecordId },
      summary: `${input.UsageDimension}=${quantity} agentcore`,
    };
  }
  // One record per resource, dimension and hour; the timestamp is rounded down for idempotency.
  const key = `${ctx.region}|${res.id}|${product.productCode}|${input.UsageDimension}|${hour}`;
  const seen = state.meterUsageGrains.get(key);
  if (seen) {
    if (seen.record.quantity !== quantity) {
      state.addDuplicate({
        region: ctx.region,
        productCode: product.productCode,
        ...(res.account ? { customerAWSAccountId: res.account } : {}),
        dimension: input.UsageDimension,
        hour,
        billedQuantity: seen.record.quantity,
        attemptedQuantity: quantity,
        requestId: ctx.requestId,
        receivedAt: new Date(now).toISOString(),
      });
      throw new ApiError(
        "DuplicateRequestException",
        "A different quantity was already metered for this resource, dimension and hour.",
      );
    }
    return {
      output: { MeteringRecordId: seen.record.meteringRecordId },
      summary: `${input.UsageDimension}=${quantity} ${res.id} (repeat)`,
    };
  }
  const record = make();
  state.meterUsageGrains.set(key, { record, fingerprint: String(quantity) });
  state.addBilled(record);
  return {
    output: { MeteringRecordId: record.meteringRecordId },
    summary: `${input.UsageDimension}=${quantity} ${res.id}`,
  };
}
