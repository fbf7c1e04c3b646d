/** Grains summed the way a seller and a buyer read them: what AWS has, what is still open, what is lost. */
import type { GrainReport } from "../../marketplace/index.js";
import type { GrainState } from "../../stores/index.js";

/** Where a grain's units stand for the bill. */
export type Standing = "sent" | "open" | "not-sent" | "uncertain";

/** sent: AWS accepted it; open: still to be sent; not-sent: rejected or expired; uncertain: check AWS. */
export function standingOf(state: GrainState): Standing {
  if (state === "sent") return "sent";
  if (state === "rejected" || state === "expired") return "not-sent";
  if (state === "uncertain") return "uncertain";
  return "open";
}

/** Units by standing. */
export interface UsageTotals {
  /** Everything recorded (the sum of the four below). */
  recorded: number;
  sent: number;
  open: number;
  notSent: number;
  uncertain: number;
}

const KEY: Readonly<Record<Standing, keyof UsageTotals>> = {
  sent: "sent",
  open: "open",
  "not-sent": "notSent",
  uncertain: "uncertain",
};

export function emptyTotals(): UsageTotals {
  return { recorded: 0, sent: 0, open: 0, notSent: 0, uncertain: 0 };
}

/** Adds one grain to totals (in place). */
export function addGrain(totals: UsageTotals, g: Pick<GrainReport, "quantity" | "state">): UsageTotals {
  totals.recorded += g.quantity;
  totals[KEY[standingOf(g.state)]] += g.quantity;
  return totals;
}

/** Totals per key (first-seen order kept, then sorted by key). */
export function totalsBy<K extends string>(
  grains: readonly GrainReport[],
  keyOf: (g: GrainReport) => K,
): Map<K, UsageTotals> {
  const out = new Map<K, UsageTotals>();
  for (const g of grains) {
    const k = keyOf(g);
    let t = out.get(k);
    if (!t) out.set(k, (t = emptyTotals()));
    addGrain(t, g);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
