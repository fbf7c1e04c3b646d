// Emulator mode only: the buttons of the demo page do what AWS Marketplace and time would do.
import { randomInt } from "node:crypto";
import type { Emulator } from "@marketmeter/emulator";
import type { Marketplace } from "{{adapter}}";
import { GRACE_PERIOD_MS } from "./marketplace.js";

const HOUR_MS = 3_600_000;

/**
 * A new buyer subscribes to the product (the emulator notifies this app's webhooks) and AWS issues the
 * registration token that the "Set up your account" button posts to the fulfillment URL.
 */
export async function subscribeNewBuyer(
  emulator: Emulator,
  productCode: string,
): Promise<{ token: string; customerAWSAccountId: string }> {
  const customerAWSAccountId = String(randomInt(100_000_000_000, 999_999_999_999));
  const buyer = await emulator.subscribe({ productCode, customerAWSAccountId });
  if (buyer.kind !== "license") throw new Error("the demo product should issue licenses");
  const token = emulator.mintToken({ licenseArn: buyer.license.licenseArn });
  return { token, customerAWSAccountId };
}

/**
 * Moves the emulator's clock past the end of the current hour and its grace period, then sends every
 * final hour now instead of waiting for the next report cycle. Returns the hour that was closed.
 */
export async function closeHour(emulator: Emulator, marketplace: Pick<Marketplace, "flush">): Promise<Date> {
  const now = emulator.clock.now().getTime();
  const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
  emulator.clock.advance(hour + HOUR_MS + GRACE_PERIOD_MS + 1000 - now);
  await emulator.settle();
  await marketplace.flush();
  return new Date(hour);
}

/** Calls this app's own API with a tenant's key, over HTTP like any client (so it is metered). */
export async function callApi(
  appUrl: string,
  apiKey: string,
  path: string,
): Promise<{ status: number; body: string }> {
  const res = await fetch(appUrl + path, { headers: { authorization: `Bearer ${apiKey}` } });
  return { status: res.status, body: await res.text() };
}
