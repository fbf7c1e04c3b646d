/** Reading grains for people: who the customer is, what is unsent, and what a store holds. */
import {
  type GrainState,
  identityFromKey,
  isMarketplaceError,
  licenseIdOf,
  type StoredGrain,
  type UsageStore,
} from "@marketmeter/core";
import { CliError } from "./errors.js";

export const UNSENT: readonly GrainState[] = ["pending", "closed", "retrying"];
export const FAILED: readonly GrainState[] = ["rejected", "expired", "uncertain"];
/** Enough for any real store's settled window; a store bigger than this is read in pieces by hour. */
const LIST_LIMIT = 1_000_000;

/** The customer columns of a grain: product, AWS account or legacy customer id, license. */
export function customerOf(identityKey: string): {
  productCode: string;
  customer: string;
  licenseArn?: string;
} {
  const id = identityFromKey(identityKey);
  const customer = id.customerAWSAccountId ?? id.customerIdentifier ?? "";
  return id.licenseArn
    ? { productCode: id.productCode, customer, licenseArn: id.licenseArn }
    : { productCode: id.productCode, customer };
}

/** Whether `--customer` names this grain's buyer (account id, license ARN or id, legacy id, or identity key). */
export function matchesCustomer(identityKey: string, customer: string): boolean {
  if (identityKey === customer) return true;
  const id = identityFromKey(identityKey);
  return (
    id.customerAWSAccountId === customer ||
    id.customerIdentifier === customer ||
    id.licenseArn === customer ||
    (id.licenseArn !== undefined && licenseIdOf(id.licenseArn) === customer)
  );
}

/** `store.list` with store failures turned into exit code 3. */
export async function listGrains(
  store: UsageStore,
  query: Parameters<UsageStore["list"]>[0] = {},
): Promise<StoredGrain[]> {
  try {
    return await store.list({ limit: LIST_LIMIT, ...query });
  } catch (err) {
    if (isMarketplaceError(err, "STORE_ERROR"))
      throw new CliError("STORE_UNREACHABLE", (err as Error).message, { cause: err });
    throw err;
  }
}
