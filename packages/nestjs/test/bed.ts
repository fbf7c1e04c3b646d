// Test bed: the emulator (real HTTP, real AWS SDK), one business clock shared by the emulator and the
// marketplace, and a real Nest app on 127.0.0.1:0 on the chosen platform.
process.env.AWS_EC2_METADATA_DISABLED = "true";
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

import { DEMO, demoConfig, type Emulator, startEmulator } from "@marketmeter/emulator";
import type { ModuleMetadata } from "@nestjs/common";
import {
  MarketplaceModule,
  type MarketplaceModuleOptions,
  type MarketplaceOptions,
  MarketplaceService,
} from "../src/index.js";
import { customerFromHeaders, type Platform, type Started, startApp } from "./app.js";

export { DEMO };
export const credentials = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret" };
export const HOUR = 3_600_000;
export const SECRET = "webhook-secret-0123456789";

/** Subscribed buyers of the demo fixtures, as request headers. */
export const A = { "x-account": DEMO.A1, "x-license": DEMO.L1, "x-product": DEMO.P_CA };
export const B = { "x-account": DEMO.A1, "x-license": DEMO.L2, "x-product": DEMO.P_CA };
export const C = { "x-customer": DEMO.C1, "x-product": DEMO.P_L };

export const ROUTES = {
  registration: "/marketplace/register",
  eventBridge: "/marketplace/events",
  sns: "/marketplace/sns",
};

export async function startEmu(): Promise<Emulator> {
  const emu = await startEmulator({ port: 0, config: demoConfig({ frozen: true }), seed: 7 });
  emu.clock.set(Date.parse(DEMO.now), { freeze: true });
  return emu;
}

export function marketplaceOptions(
  emu: Emulator,
  extra: Partial<MarketplaceOptions> = {},
): MarketplaceOptions {
  return {
    products: [{ productCode: DEMO.P_CA }, { productCode: DEMO.P_L }],
    dimensions: ["api_calls", "gb_stored"],
    aws: { region: "us-east-1", endpoint: emu.endpoint, credentials, maxAttempts: 1 },
    clock: () => emu.clock.now().getTime(),
    autoStart: false,
    retry: { baseDelayMs: 10, maxDelayMs: 100 },
    logger: silent,
    buyers: {
      eventBridge: { secret: SECRET },
      sns: { trustedCertificateOrigins: [emu.endpoint], autoConfirm: true },
    },
    ...extra,
  } as MarketplaceOptions;
}

export interface App extends Started {
  service: MarketplaceService;
}

/** The request as the test apps' `getCustomer` reads it (both platforms have these headers). */
export type HeaderRequest = { headers: Record<string, string | undefined> };

export async function startMeteredApp(
  platform: Platform,
  emu: Emulator,
  options: Partial<MarketplaceModuleOptions<HeaderRequest, { statusCode: number }>> = {},
  extra: {
    routes?: typeof ROUTES | Record<string, string>;
    imports?: ModuleMetadata["imports"];
    rawBody?: boolean;
  } = {},
): Promise<App> {
  const started = await startApp(
    platform,
    [
      MarketplaceModule.forRoot({
        marketplace: marketplaceOptions(emu),
        getCustomer: customerFromHeaders,
        ...options,
        ...(extra.routes ? { routes: extra.routes } : {}),
      }),
      ...(extra.imports ?? []),
    ],
    undefined,
    { rawBody: extra.rawBody },
  );
  return { ...started, service: started.app.get(MarketplaceService) };
}

export const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** Sends `n` requests one after another and returns their statuses. */
export async function hit(
  base: string,
  path: string,
  headers: Record<string, string>,
  n = 1,
  method = "GET",
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const r = await fetch(base + path, { method, headers });
    await r.arrayBuffer();
    out.push(r.status);
  }
  return out;
}

/** Billed quantities by `who/dimension/hour`, from the emulator's ledger. */
export function billed(emu: Emulator): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of emu.ledger()) {
    const who = r.licenseArn
      ? r.licenseArn === DEMO.L1
        ? "L1"
        : r.licenseArn === DEMO.L2
          ? "L2"
          : r.licenseArn
      : r.customerIdentifier;
    const key = `${who}/${r.dimension}/${r.hour.slice(11, 13)}h`;
    out[key] = (out[key] ?? 0) + r.quantity;
  }
  return out;
}

export async function waitFor(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 250; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
