/**
 * Types shared between the emulator's parts (state, operations, control API, notifier, billing page).
 * This file is the contract between them: change it with care.
 */

/** One accepted (billed) record: the first write of a grain. */
export interface BilledRecord {
  /** Region from the SigV4 credential scope. */
  region: string;
  operation: "BatchMeterUsage" | "MeterUsage";
  productCode: string;
  /** Legacy identity. */
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  /** Concurrent Agreements identity. */
  licenseArn?: string;
  /** MeterUsage only: the emulated resource (instance / task / pod) id. */
  resourceId?: string;
  dimension: string;
  /** Start of the UTC hour of the record, ISO 8601 (e.g. 2026-07-15T09:00:00.000Z). */
  hour: string;
  /** Timestamp as submitted, epoch seconds. */
  timestamp: number;
  quantity: number;
  allocations?: Array<{ quantity: number; tags?: Array<{ key: string; value: string }> }>;
  meteringRecordId: string;
  requestId: string;
  /** Emulator clock time when it was written, ISO 8601. */
  receivedAt: string;
}

/** A record answered `DuplicateRecord` (or `DuplicateRequestException`), with both quantities. */
export interface DuplicateAttempt {
  region: string;
  productCode: string;
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  licenseArn?: string;
  dimension: string;
  hour: string;
  billedQuantity: number;
  attemptedQuantity: number;
  requestId: string;
  receivedAt: string;
}

/** A request refused as a whole (any error response), for inspection. */
export interface RejectedRequest {
  operation: string;
  region: string;
  errorType: string;
  message: string;
  httpStatus: number;
  requestId: string;
  receivedAt: string;
}

/** A lifecycle change that the notifier turns into EventBridge events and SNS messages. */
export type LifecycleAction =
  | "subscribe-success"
  | "subscribe-fail"
  | "unsubscribe-pending"
  | "unsubscribe-success"
  | "entitlement-updated"
  | "agreement-created"
  | "agreement-amended"
  | "agreement-ended"
  | "license-updated"
  | "license-deprovisioned";

export interface LifecycleNotification {
  action: LifecycleAction;
  productCode: string;
  /** Product id used in EventBridge `product.id` (prod-xxxx). */
  productId?: string;
  customerIdentifier?: string;
  customerAWSAccountId?: string;
  licenseArn?: string;
  agreementId?: string;
  offerId?: string;
  /** Agreement status for agreement events (ACTIVE, CANCELLED, EXPIRED, ...). */
  agreementStatus?: string;
  agreementIntent?: "NEW" | "RENEW" | "REPLACE" | "AMEND";
  isFreeTrialTermPresent?: boolean;
  /** Emulator clock time of the change. */
  time: Date;
  /** Agreement events: when the buyer accepted the offer. Defaults to `time`. */
  acceptanceTime?: Date;
  /** Agreement events: agreement start. Defaults to `acceptanceTime`. */
  startTime?: Date;
  /** Agreement events: agreement end. Defaults to one year after `startTime`. */
  endTime?: Date;
}

/** Where the emulator delivers notifications. */
export interface WebhookConfig {
  /** Receives EventBridge events as JSON POST bodies (as an API destination would). */
  eventBridge?: Array<{
    url: string /** sent in the header below, like an API destination connection */;
    secret?: string;
    header?: string;
  }>;
  /** Receives SNS HTTP(S) notifications (SubscriptionConfirmation, then Notification), signed. */
  sns?: Array<{
    url: string /** "subscription" | "entitlement" topic; default both */;
    topics?: Array<"subscription" | "entitlement">;
    /** "1" = SHA1withRSA, "2" = SHA256withRSA, as the subscription attribute of the same name. Default "2". */
    signatureVersion?: "1" | "2";
    /** Hold Notifications until the endpoint has visited the SubscribeURL. Default false (deliver anyway). */
    requireConfirmation?: boolean;
  }>;
}

/** One AWS API call as the emulator saw it (the request log). */
export interface ApiCall {
  /** Emulator clock time, ISO 8601. */
  time: string;
  region: string;
  /** Operation name, or the raw target when it was not recognised. */
  operation: string;
  protocol: "awsJson1_1" | "rpcv2Cbor";
  /** HTTP status answered. */
  status: number;
  /** Error `__type` when the call failed. */
  errorType?: string;
  /** Attempt number from the SDK's `amz-sdk-request` header (`attempt=N; max=M`), when sent. */
  attempt?: number;
  maxAttempts?: number;
  /** `amz-sdk-invocation-id`: the same on every attempt of one SDK call. */
  invocationId?: string;
  requestId: string;
  /** One-line human summary (never contains a registration token). */
  summary: string;
}
