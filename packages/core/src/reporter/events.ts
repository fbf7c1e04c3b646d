/** Typed events of a marketplace instance. */
import type { MarketplaceError } from "../errors/index.js";
import type { Identity } from "../identity/index.js";

/** A grain as events describe it. */
export interface GrainInfo {
  identity: Identity;
  dimension: string;
  /** Start of the UTC hour. */
  hour: Date;
  quantity: number;
}

export interface MarketplaceEvents {
  /** AWS accepted the grain's record. */
  sent: { grain: GrainInfo; meteringRecordId: string | undefined; dryRun: boolean };
  /** AWS refused the grain for good (e.g. CustomerNotSubscribed, an invalid record). */
  rejected: {
    grain: GrainInfo;
    reason: string;
    code: "CUSTOMER_NOT_SUBSCRIBED" | "DUPLICATE_RECORD" | "AWS_REJECTED";
  };
  /** The grain can no longer be accepted (24 h window or month-end cut-off); AWS never had it. */
  expired: { grain: GrainInfo; reason: string };
  /**
   * The grain passed AWS's window after an attempt whose answer was lost: AWS may or may not have billed
   * it. `check` says what the seller should look at (the seller reports for that customer, dimension and
   * hour).
   */
  uncertain: { grain: GrainInfo; reason: string; check: string };
  /** An attempt failed transiently; the grains are tried again at `nextAttemptAt`. */
  retrying: { grains: GrainInfo[]; attempt: number; nextAttemptAt: Date; error: string };
  /** Usage arrived for a closed hour (or a full grain) and was added to a later open hour. */
  carriedForward: {
    identity: Identity;
    dimension: string;
    from: Date;
    to: Date;
    quantity: number;
    reason: "closed" | "int32";
  };
  /**
   * AWS answered DuplicateRecord. `ownEarlierWrite` is true when an earlier attempt of ours may have
   * reached AWS without us seeing the answer: the billed record is then our own identical one.
   */
  duplicate: {
    grain: GrainInfo;
    quantity: number;
    billedQuantity: number | undefined;
    ownEarlierWrite: boolean;
  };
  /** A grain is still unsent close to the end of its acceptance window. */
  windowWarning: { grain: GrainInfo; deadline: Date; remainingMs: number; state: string };
  /**
   * In-memory usage reached `maxBufferedGrains` (the store is unreachable, or slower than usage grows):
   * usage for new grains is refused until a checkpoint makes room. Once per episode.
   */
  overflow: { maxBufferedGrains: number; bufferedGrains: number };
  /** Something went wrong in the background (store, AWS configuration, a handler). */
  error: { error: MarketplaceError; phase: "checkpoint" | "close" | "send" | "sweep" | "handler" };
}

export type MarketplaceEventName = keyof MarketplaceEvents;
export type Emit = <E extends MarketplaceEventName>(event: E, payload: MarketplaceEvents[E]) => void;
