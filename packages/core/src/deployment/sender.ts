/**
 * The pipeline's sender for deployments: each closed grain becomes one MeterUsage call (instead of a
 * BatchMeterUsage record), and MeterUsage's answers are read back as BatchMeterUsage results.
 */
import {
  type MarketplaceMeteringClient,
  MeterUsageCommand,
  type MeterUsageRequest,
  type UsageRecordResult,
} from "@aws-sdk/client-marketplace-metering";
import { callDeadlineOf, withDeadline } from "../aws/index.js";
import { errorName, type RateLimiter, type SendResult, type UsageSender } from "../reporter/index.js";
import { requestOf } from "./agentcore.js";
import { type FixContext, refusal } from "./errors.js";

export interface MeterUsageSenderOptions {
  /** AgentCore: a ClientToken derived from the grain (deployment, dimension, hour, call or interval). */
  clientTokens: boolean;
  deploymentId: string;
  fix: Omit<FixContext, "operation" | "productCode">;
  /** Paces every MeterUsage call (AWS quota: 10 per second); the pipeline paces batches, not records. */
  limiter: RateLimiter;
}

/**
 * One MeterUsage call per record, in order. `DuplicateRequestException` (another quantity already billed
 * for that hour) and `IdempotencyConflictException` (the token was used for another record) are final
 * answers for the record, never retried; other errors fail the call as a whole, so its records are
 * resent identically (same hour, same quantity, same token).
 *
 * @example
 * const sender = meterUsageSender(client, { clientTokens: false, deploymentId: "i-0abc", fix })
 */
export function meterUsageSender(client: MarketplaceMeteringClient, o: MeterUsageSenderOptions): UsageSender {
  const deadline = callDeadlineOf(client);
  const { limiter } = o;
  return {
    dryRun: false,
    identicalResendSucceeds: true,
    async send(input, signal): Promise<SendResult> {
      const results: UsageRecordResult[] = [];
      for (const record of input.UsageRecords ?? []) {
        const timestamp = record.Timestamp as Date;
        const request: MeterUsageRequest = {
          ProductCode: input.ProductCode,
          Timestamp: timestamp,
          UsageDimension: record.Dimension,
          UsageQuantity: record.Quantity ?? 0,
        };
        if (record.UsageAllocations) request.UsageAllocations = record.UsageAllocations;
        if (o.clientTokens) {
          // Per call or per interval, the grain's identity names the slot: its timestamp and token.
          const slot = requestOf(
            o.deploymentId,
            record.CustomerIdentifier,
            record.Dimension ?? "",
            timestamp.getTime(),
          );
          request.Timestamp = new Date(slot.timestamp);
          request.ClientToken = slot.token;
        }
        await limiter.acquire();
        try {
          const out = await withDeadline(
            "MeterUsage",
            deadline,
            (abortSignal) => client.send(new MeterUsageCommand(request), { abortSignal }),
            signal,
          );
          results.push({ UsageRecord: record, Status: "Success", MeteringRecordId: out.MeteringRecordId });
        } catch (err) {
          const name = errorName(err);
          // First write wins: AWS holds another record for this hour (or token); this quantity is not billed.
          if (name === "DuplicateRequestException" || name === "IdempotencyConflictException")
            results.push({ UsageRecord: record, Status: "DuplicateRecord" });
          else if (name === "CustomerNotEntitledException")
            results.push({ UsageRecord: record, Status: "CustomerNotSubscribed" });
          else {
            const known = refusal(err, {
              ...o.fix,
              operation: "MeterUsage",
              productCode: input.ProductCode ?? "",
            });
            // Keep the AWS error's name (the reporter classifies by it) with a message that says the fix.
            if (known && err instanceof Error) err.message = known.message;
            throw err;
          }
        }
      }
      return { Results: results };
    },
  };
}
