/**
 * AgentCore metering per call or per interval shorter than the hour. The store and pipeline keep one grain
 * per identity x dimension x hour, so each call (or interval) gets an identity of its own: the deployment
 * id plus the slot (`<id>#c<timestamp>.<sequence>`, `<id>#i<start>/<length>`). The grain is saved before it
 * is sent, and the sender derives the timestamp and the client token from that identity, so a resend
 * after a lost answer, in this process or the next, is the same request.
 */
import { MarketplaceError } from "../errors/index.js";
import type { LegacyIdentity } from "../identity/index.js";
import type { Marketplace } from "../marketplace/index.js";
import { HOUR_MS, hourStart, type Logger } from "../runtime/index.js";
import { clientToken } from "./token.js";

/** How an AgentCore deployment reports usage. */
export interface AgentCoreMetering {
  /**
   * `interval`: one MeterUsage per dimension per interval, once it is over; `per-call`: one MeterUsage
   * per `record()`, sent at once with the call's own timestamp. @default "interval"
   */
  meter?: "interval" | "per-call";
  /** Interval length: at least a minute, dividing the hour (5 min, 15 min…). @default 3600000 */
  intervalMs?: number;
}

/** The resolved choice: `hour` keeps one grain per deployment x dimension x hour. */
export type Slotting = { kind: "hour" } | { kind: "interval"; intervalMs: number } | { kind: "per-call" };

function invalid(message: string): never {
  throw new MarketplaceError("INVALID_CONFIG", message);
}

/** Validates the `agentcore` option. */
export function slottingOf(value: unknown, mode: string): Slotting {
  if (value === undefined) return { kind: "hour" };
  if (mode !== "agentcore") invalid('agentcore: { meter } is for mode: "agentcore" only');
  if (typeof value !== "object" || value === null)
    invalid('agentcore must be { meter: "interval" | "per-call", intervalMs? }');
  const { meter = "interval", intervalMs } = value as AgentCoreMetering;
  if (meter === "per-call") {
    if (intervalMs !== undefined) invalid('agentcore.intervalMs applies to meter: "interval" only');
    return { kind: "per-call" };
  }
  if (meter !== "interval") invalid('agentcore.meter must be "interval" or "per-call"');
  if (intervalMs === undefined || intervalMs === HOUR_MS) return { kind: "hour" };
  if (!Number.isSafeInteger(intervalMs) || intervalMs < 60_000 || HOUR_MS % intervalMs !== 0)
    invalid("agentcore.intervalMs must be at least 60000 and divide the hour (300000 for 5 minutes)");
  return { kind: "interval", intervalMs };
}

/** Where one call or interval sits, as its identity spells it. */
export type Slot =
  | { kind: "call"; at: number; sequence: number }
  | { kind: "interval"; start: number; length: number };

const SLOT = /^#(?:c(\d{1,15})\.(\d{1,15})|i(\d{1,15})\/(\d{1,10}))$/;

/** The customer identifier of a slot of `deploymentId`. */
export function slotIdentifier(deploymentId: string, slot: Slot): string {
  return slot.kind === "call"
    ? `${deploymentId}#c${slot.at}.${slot.sequence}`
    : `${deploymentId}#i${slot.start}/${slot.length}`;
}

/** The slot a customer identifier of `deploymentId` names, or undefined (the hourly identity, another one). */
export function parseSlot(deploymentId: string, identifier: string | undefined): Slot | undefined {
  if (identifier === undefined || !identifier.startsWith(deploymentId)) return undefined;
  const m = SLOT.exec(identifier.slice(deploymentId.length));
  if (!m) return undefined;
  return m[1] !== undefined
    ? { kind: "call", at: Number(m[1]), sequence: Number(m[2]) }
    : { kind: "interval", start: Number(m[3]), length: Number(m[4]) };
}

/**
 * The Timestamp and ClientToken of a grain's MeterUsage. A grain whose hour is not its slot's holds usage
 * carried forward past a closed slot: it is its own request, keyed by the identifier and the hour.
 */
export function requestOf(
  deploymentId: string,
  identifier: string | undefined,
  dimension: string,
  hour: number,
): { timestamp: number; token: string } {
  const slot = parseSlot(deploymentId, identifier);
  const at = slot === undefined ? hour : slot.kind === "call" ? slot.at : slot.start;
  if (slot === undefined || hourStart(at) !== hour)
    return {
      timestamp: hour,
      token: clientToken({
        deployment: slot ? (identifier as string) : deploymentId,
        dimension,
        intervalStart: hour,
      }),
    };
  return {
    timestamp: at,
    token:
      slot.kind === "call"
        ? clientToken({
            deployment: deploymentId,
            dimension,
            intervalStart: at,
            sequence: slot.sequence,
            intervalMs: 0,
          })
        : clientToken({ deployment: deploymentId, dimension, intervalStart: at, intervalMs: slot.length }),
  };
}

interface OpenSlot {
  identity: LegacyIdentity;
  /** When it may be sent: the call's time, or the end of the interval. */
  dueAt: number;
}

export interface SlotMeteringOptions {
  deploymentId: string;
  productCode: string;
  slotting: Exclude<Slotting, { kind: "hour" }>;
  clock: () => number;
  logger: Logger;
  autoStart: boolean;
  closeTimeoutMs: number;
}

/**
 * Gives `marketplace` per-call or per-interval `record`, `flush`, `start` and `close`. Reads the store
 * first: slots a previous run left open are sent when due, and the call sequence goes on from the highest
 * one saved, so a new call never takes the identity (and token) of one already saved.
 */
export async function meterBySlot<M extends Marketplace<string>>(
  marketplace: M,
  o: SlotMeteringOptions,
): Promise<M> {
  const { deploymentId, productCode, slotting, clock, logger } = o;
  const record = marketplace.record.bind(marketplace);
  const flush = marketplace.flush.bind(marketplace);
  const close = marketplace.close.bind(marketplace);
  const start = marketplace.start.bind(marketplace);
  const open = new Map<string, OpenSlot>();
  const identityOf = (slot: Slot): LegacyIdentity => ({
    productCode,
    customerIdentifier: slotIdentifier(deploymentId, slot),
  });

  // Saved grains older than MeterUsage's window can no longer be sent; their calls are older still.
  let sequence = 0;
  for (const g of await marketplace.report({ from: hourStart(clock()) - 7 * HOUR_MS, limit: 1_000_000 })) {
    const id = "customerIdentifier" in g.identity ? g.identity.customerIdentifier : undefined;
    const slot = parseSlot(deploymentId, id);
    if (slot === undefined) continue;
    if (slot.kind === "call") sequence = Math.max(sequence, slot.sequence + 1);
    if (g.state === "pending")
      open.set(id as string, {
        identity: identityOf(slot),
        dueAt: slot.kind === "call" ? slot.at : slot.start + slot.length,
      });
  }

  const sendDue = async (): Promise<void> => {
    const now = clock();
    for (const [key, s] of [...open]) {
      if (s.dueAt > now) continue;
      try {
        // Saves, closes and sends this slot's grain; a failed send is retried by the pipeline from here on.
        await flush({ identity: s.identity });
        open.delete(key);
      } catch (err) {
        logger.warn(
          { error: String(err) },
          "marketmeter: AgentCore usage not sent yet; kept for the next try",
        );
        return;
      }
    }
  };
  let pump: Promise<void> | undefined;
  let again = false;
  let running = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const kick = (): void => {
    if (!running) return;
    if (pump) {
      again = true;
      return;
    }
    pump = (async () => {
      do {
        again = false;
        await sendDue();
      } while (again && running);
    })().finally(() => {
      pump = undefined;
    });
  };
  const run = (): void => {
    if (running) return;
    running = true;
    const every = slotting.kind === "interval" ? Math.min(slotting.intervalMs / 4, 30_000) : 30_000;
    timer = setInterval(kick, every);
    timer.unref?.();
    kick();
  };
  if (o.autoStart) run();

  let next: { key: string; identity: LegacyIdentity } | undefined;
  return Object.assign(marketplace, {
    record(usage: Parameters<M["record"]>[0]): void {
      if (typeof usage !== "object" || usage === null) {
        record(usage);
        return;
      }
      const raw = usage.timestamp === undefined ? clock() : Number(usage.timestamp);
      // An invalid timestamp: the marketplace's own validation says what is wrong.
      if (!Number.isFinite(raw)) {
        record(usage);
        return;
      }
      const t = Math.floor(raw);
      let slot: Slot;
      let identity: LegacyIdentity;
      if (slotting.kind === "per-call") {
        slot = { kind: "call", at: t, sequence: sequence++ };
        identity = identityOf(slot);
      } else {
        slot = { kind: "interval", start: t - (t % slotting.intervalMs), length: slotting.intervalMs };
        const key = slotIdentifier(deploymentId, slot);
        // The same object for the whole interval keeps record() on its fast path.
        if (next?.key !== key) next = { key, identity: identityOf(slot) };
        identity = next.identity;
      }
      record({ ...usage, identity, timestamp: t });
      const key = identity.customerIdentifier;
      if (!open.has(key))
        open.set(key, { identity, dueAt: slot.kind === "call" ? t : slot.start + slot.length });
      if (slotting.kind === "per-call") kick();
    },
    async flush(options?: { identity?: unknown }): Promise<void> {
      if (options?.identity !== undefined) return flush(options as Parameters<M["flush"]>[0]);
      await pump;
      await sendDue();
      await flush(options as Parameters<M["flush"]>[0]);
    },
    start(): void {
      start();
      run();
    },
    async close(): Promise<void> {
      running = false;
      clearInterval(timer);
      await pump;
      // What is due goes now, within part of the close budget; a durable store keeps the rest.
      let t: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        sendDue(),
        new Promise<void>((resolve) => {
          t = setTimeout(resolve, o.closeTimeoutMs / 2);
          t.unref?.();
        }),
      ]);
      clearTimeout(t);
      await close();
    },
  });
}
