// Shared set-up of the tests that start the emulator: one frozen business clock that drives both the
// marketplace (injected clock) and the emulator (its controllable clock).
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { MarketplaceMeteringClient } from "@aws-sdk/client-marketplace-metering";
import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import { createMarketplace, type MarketplaceEvents, type MarketplaceOptions } from "../src/index.js";

export { DEMO };
export const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
export const HOUR = 3_600_000;

export const CA1 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L1, productCode: DEMO.P_CA };
export const CA2 = { customerAWSAccountId: DEMO.A1, licenseArn: DEMO.L2, productCode: DEMO.P_CA };
export const LEG = { customerIdentifier: DEMO.C1, productCode: DEMO.P_L };
export const TRANS = { customerAWSAccountId: DEMO.A3, productCode: DEMO.P_L };

export interface TestBed {
  emu: Emulator;
  now(): number;
  set(t: number): void;
  advance(ms: number): void;
  options(extra?: Partial<MarketplaceOptions>): MarketplaceOptions<readonly ["api_calls", "gb_stored"]>;
  make(
    extra?: Partial<MarketplaceOptions>,
  ): ReturnType<typeof createMarketplace<readonly ["api_calls", "gb_stored"]>>;
  /** A metering client whose requests (wall time and input) are recorded. */
  recordingClient(): {
    client: MarketplaceMeteringClient;
    sent: Array<{ at: number; input: Record<string, unknown> }>;
  };
  close(): Promise<void>;
}

export async function testBed(start = Date.parse(DEMO.now)): Promise<TestBed> {
  const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 7 });
  let now = start;
  emu.clock.set(now, { freeze: true });
  const bed: TestBed = {
    emu,
    now: () => now,
    set(t) {
      now = t;
      emu.clock.set(t, { freeze: true });
    },
    advance(ms) {
      bed.set(now + ms);
    },
    options: (extra = {}) =>
      ({
        products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
        dimensions: ["api_calls", "gb_stored"] as const,
        aws: { region: "us-east-1", endpoint: emu.endpoint, credentials },
        clock: () => now,
        autoStart: false,
        retry: { baseDelayMs: 10, maxDelayMs: 1000 },
        ...extra,
      }) as MarketplaceOptions<readonly ["api_calls", "gb_stored"]>,
    make: (extra = {}) => createMarketplace(bed.options(extra)),
    recordingClient() {
      const client = new MarketplaceMeteringClient({
        region: "us-east-1",
        endpoint: emu.endpoint,
        credentials,
        maxAttempts: 1,
      });
      const sent: Array<{ at: number; input: Record<string, unknown> }> = [];
      client.middlewareStack.add(
        (next) => async (args) => {
          sent.push({ at: performance.now(), input: args.input as unknown as Record<string, unknown> });
          return next(args);
        },
        { step: "initialize", name: "recordRequests" },
      );
      return { client, sent };
    },
    close: () => emu.close(),
  };
  return bed;
}

/** A loopback HTTP server that accepts every request and never answers: AWS hanging. */
export interface HangingServer {
  endpoint: string;
  /** Target operations (`x-amz-target`) of the requests received so far. */
  readonly received: string[];
  /** Resolves when the `n`-th request has arrived. */
  request(n?: number): Promise<void>;
  close(): Promise<void>;
}

export async function hangingServer(): Promise<HangingServer> {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  const server: Server = createServer((req) => {
    received.push(String(req.headers["x-amz-target"] ?? req.url));
    for (const w of waiters.filter((x) => received.length >= x.n)) w.resolve();
    // The body is read so the client's write completes; no answer is ever written.
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

/** Polls until `check()` holds (something that must happen), failing after about 5 s. */
export async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Collects the payloads of one event of a marketplace, in order. */
export function collect<E extends keyof MarketplaceEvents>(
  m: { on: (e: E, h: (p: MarketplaceEvents[E]) => void) => () => void },
  e: E,
) {
  const out: MarketplaceEvents[E][] = [];
  m.on(e, (p) => out.push(p));
  return out;
}
