process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEMO } from "@marketmeter/emulator";

export { DEMO };
export const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
export const HOUR = 3_600_000;
export const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };
export const CA2 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2, productCode: DEMO.P_CA };
export const LEG = { customerIdentifier: DEMO.C1, productCode: DEMO.P_L };
export const TRANS = { customerAWSAccountId: DEMO.A3, productCode: DEMO.P_L };

export function tempDb(): { dir: string; path: string } {
  const dir = mkdtempSync(join(tmpdir(), "mm-sqlite-it-"));
  return { dir, path: join(dir, "usage.db") };
}
