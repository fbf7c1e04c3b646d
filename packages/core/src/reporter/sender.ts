/**
 * The edge of the usage pipeline that talks to AWS, injected so the pipeline never guesses: the AWS
 * sender makes the BatchMeterUsage call, the dry-run sender accepts every record without a call.
 */
import {
  BatchMeterUsageCommand,
  type BatchMeterUsageCommandOutput,
  type BatchMeterUsageRequest,
  type MarketplaceMeteringClient,
} from "@aws-sdk/client-marketplace-metering";
import { callDeadlineOf, withDeadline } from "../aws/index.js";

/** What the reporter reads of a BatchMeterUsage answer. */
export type SendResult = Pick<BatchMeterUsageCommandOutput, "Results" | "UnprocessedRecords">;

/** Sends one BatchMeterUsage request. */
export interface UsageSender {
  /** True when nothing reaches AWS: calls are not paced or counted, and grains end `sent` with reason "dry-run". */
  readonly dryRun: boolean;
  /**
   * AWS answers an identical resend with success (MeterUsage), so a duplicate answer always means another
   * quantity was billed, never our own earlier attempt. @default false (BatchMeterUsage)
   */
  readonly identicalResendSucceeds?: boolean;
  /** One call with its deadline; `signal` aborts it (shutdown). */
  send(input: BatchMeterUsageRequest, signal?: AbortSignal): Promise<SendResult>;
}

/**
 * Sends with the metering client, bounded by the client's call deadline.
 *
 * @example
 * const sender = awsSender(createAwsClients(aws).metering)
 */
export function awsSender(client: MarketplaceMeteringClient): UsageSender {
  const deadline = callDeadlineOf(client);
  return {
    dryRun: false,
    send: (input, signal) =>
      withDeadline(
        "BatchMeterUsage",
        deadline,
        (abortSignal) => client.send(new BatchMeterUsageCommand(input), { abortSignal }),
        signal,
      ),
  };
}

/**
 * Answers every record as accepted (no metering record id), without any network call.
 *
 * @example
 * const sender = dryRunSender()
 */
export function dryRunSender(): UsageSender {
  return {
    dryRun: true,
    send: async (input) => ({
      Results: (input.UsageRecords ?? []).map((r) => ({ UsageRecord: r, Status: "Success" })),
    }),
  };
}
