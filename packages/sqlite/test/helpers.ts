process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { once } from "node:events";
import { mkdtempSync } from "node:fs";
import { createServer } from "node:http";
import type { Socket } from "node:net";
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

/** A loopback HTTP server that accepts every request and never answers: AWS hanging. */
export async function hangingServer(): Promise<{
  endpoint: string;
  received: string[];
  request(n?: number): Promise<void>;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server = createServer((req) => {
    received.push(String(req.headers["x-amz-target"] ?? req.url));
    for (const w of waiters) if (received.length >= w.n) w.resolve();
    req.resume();
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    request: (n = 1) =>
      received.length >= n ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ n, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
