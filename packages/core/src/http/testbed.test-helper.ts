// A real marketplace for the HTTP layer's unit tests: dry run, no timers, AWS pointed at a closed port.
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { createMarketplace } from "../marketplace/index.js";

export const P = "pca1234567890abcdefghijkl";
export const A1 = "123456789012";
export const L1 = "arn:aws:license-manager::294406891311:license:l-0123456789abcdef0123456789abcdef";
export const SECRET = "http-layer-secret-0123456789";
export const ID = Object.freeze({ productCode: P, customerAWSAccountId: A1, licenseArn: L1 });

/** `clock`: the business time (epoch ms) the marketplace and its HTTP layer read. */
export function dryMarketplace(clock?: () => number) {
  return createMarketplace({
    products: [{ productCode: P }],
    dimensions: ["api_calls", "tokens"] as const,
    aws: {
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" },
    },
    dryRun: true,
    autoStart: false,
    buyers: { eventBridge: { secret: SECRET } },
    ...(clock ? { clock } : {}),
  });
}

/** A License Updated event for ID, as EventBridge delivers it. */
export function licenseUpdated(time = new Date().toISOString().replace(/\.\d{3}Z$/, "Z")) {
  return {
    version: "0",
    id: `ev-${Math.random().toString(36).slice(2)}`,
    "detail-type": "License Updated - Manufacturer",
    source: "aws.agreement-marketplace",
    account: "111122223333",
    time,
    region: "us-east-1",
    resources: [],
    detail: {
      product: { code: P, id: "prod-1" },
      license: { arn: L1 },
      acceptor: { accountId: A1 },
      agreement: { id: "agmt-1" },
      offer: { id: "offer-1" },
    },
  };
}
