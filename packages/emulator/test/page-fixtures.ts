import type { BilledRecord, DuplicateAttempt } from "../src/types.js";

// Shared sample data for the billing page tests (not a test file itself).
export const NOW = new Date("2026-07-15T10:30:00.000Z");
export const A1 = "123456789012";
export const A2 = "210987654321";
export const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
export const L2 = "arn:aws:license-manager::294406891311:license:l-1123456789abcdef0123456789abcdef";
export const L3 = "arn:aws:license-manager::294406891311:license:l-2123456789abcdef0123456789abcdef";
export const P_CA = "pca1234567890abcdefghijkl";
export const P_L = "pleg1234567890abcdefghijk";
export const XSS = `<script>window.__xss=1</script>"><img src=x onerror="window.__xss=2">`;

let seq = 0;
function record(
  partial: Partial<BilledRecord> & Pick<BilledRecord, "dimension" | "hour" | "quantity">,
): BilledRecord {
  seq += 1;
  return {
    region: "us-east-1",
    operation: "BatchMeterUsage",
    productCode: P_CA,
    timestamp: Date.parse(partial.hour) / 1000 + 60,
    meteringRecordId: `mrid-${String(seq).padStart(4, "0")}-6f1c2a3b`,
    requestId: `req-${seq}`,
    receivedAt: partial.hour,
    ...partial,
  };
}

const H = (h: number) => `2026-07-15T${String(h).padStart(2, "0")}:00:00.000Z`;

/** Several customers (two CA licenses of A1, one of A2, a legacy id, an XSS id), two dimensions, 5 hours. */
export function sampleRecords(): BilledRecord[] {
  seq = 0;
  const out: BilledRecord[] = [];
  for (const h of [6, 7, 8, 9, 10]) {
    out.push(
      record({
        customerAWSAccountId: A1,
        licenseArn: L1,
        dimension: "api_calls",
        hour: H(h),
        quantity: 100 + h * 10,
      }),
    );
    out.push(
      record({
        customerAWSAccountId: A1,
        licenseArn: L1,
        dimension: "gb_stored",
        hour: H(h),
        quantity: 20 + h,
      }),
    );
    if (h >= 8) {
      out.push(
        record({
          customerAWSAccountId: A1,
          licenseArn: L2,
          dimension: "api_calls",
          hour: H(h),
          quantity: 55,
        }),
      );
      out.push(
        record({
          customerAWSAccountId: A2,
          licenseArn: L3,
          dimension: "gb_stored",
          hour: H(h),
          quantity: 12,
        }),
      );
    }
  }
  out.push(
    record({
      productCode: P_L,
      customerIdentifier: "cust-ABC123",
      dimension: "api_calls",
      hour: H(9),
      quantity: 70,
    }),
  );
  out.push(
    record({ productCode: P_L, customerIdentifier: XSS, dimension: "api_calls", hour: H(10), quantity: 5 }),
  );
  out.push(
    record({
      region: "eu-west-1",
      customerAWSAccountId: A1,
      licenseArn: L1,
      dimension: "api_calls",
      hour: H(10),
      quantity: 9,
    }),
  );
  return out;
}

export function sampleDuplicates(): DuplicateAttempt[] {
  return [
    {
      region: "us-east-1",
      productCode: P_CA,
      customerAWSAccountId: A1,
      licenseArn: L1,
      dimension: "api_calls",
      hour: H(9),
      billedQuantity: 190,
      attemptedQuantity: 240,
      requestId: "req-dup-1",
      receivedAt: "2026-07-15T10:05:00.000Z",
    },
    {
      region: "us-east-1",
      productCode: P_L,
      customerIdentifier: "cust-ABC123",
      dimension: "api_calls",
      hour: H(9),
      billedQuantity: 70,
      attemptedQuantity: 70,
      requestId: "req-dup-2",
      receivedAt: "2026-07-15T10:06:00.000Z",
    },
  ];
}

/** Distinct (region, product, customer, dimension, hour) grains in sampleRecords(). */
export const SAMPLE_ROWS = 5 * 2 + 3 * 2 + 2 + 1;
