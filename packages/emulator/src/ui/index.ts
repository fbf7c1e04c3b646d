// PLACEHOLDER until the billing page lands: owned by the notify/ui helper. Signature is the contract.
import type { BilledRecord, DuplicateAttempt } from "../types.js";

export interface BillingPageInput {
  records: BilledRecord[];
  duplicates: DuplicateAttempt[];
  now: Date;
  title?: string;
}

export function renderBillingPage(_input: BillingPageInput): string {
  throw new Error("billing page not implemented yet");
}
