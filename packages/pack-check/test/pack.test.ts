// What users install: the published tarballs in a scratch app beside another AWS SDK client, built with
// tsc as ESM and as CommonJS and run. It needs the npm registry, so it runs in CI (or with MM_PACK_CHECK=1).
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";

const script = fileURLToPath(new URL("../../../scripts/pack-smoke.mjs", import.meta.url));
const enabled = Boolean(process.env.CI) || process.env.MM_PACK_CHECK === "1";

it.runIf(enabled)(
  "the packed packages install, build as ESM and CommonJS, bill one hour, share one AWS SDK",
  async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [script], {
      maxBuffer: 64 * 1024 * 1024,
    }).catch((err: { stdout?: string; stderr?: string; message: string }) => {
      throw new Error(`pack smoke failed: ${err.message}\n${err.stdout ?? ""}\n${err.stderr ?? ""}`);
    });
    expect(stdout).toMatch(/one copy each of @smithy\/core, (.*, )?@marketmeter\/core(,|\n)/);
    expect(stdout).toContain("esm: tsc build and smoke run passed (smoke ok (esm): one request billed");
    expect(stdout).toContain("cjs: tsc build and smoke run passed (smoke ok (cjs): one request billed");
    expect(stdout).toContain("pack smoke passed");
  },
);
