/** `marketmeter status`: is everything being sent, and will anything be lost? */

import type { GrainState, StoredGrain } from "@marketmeter/core";
import { acceptanceDeadline, GRAIN_STATES, HOUR_MS, hourStart } from "@marketmeter/core/store";
import { EXIT, type ExitCode } from "../errors.js";
import { customerOf, FAILED, listGrains, UNSENT } from "../grains.js";
import { human, iso, table } from "../output.js";
import type { CommandContext } from "./context.js";

const AGES = [
  { label: "< 1h", max: HOUR_MS },
  { label: "1-6h", max: 6 * HOUR_MS },
  { label: "6-24h", max: 24 * HOUR_MS },
  { label: ">= 24h", max: Number.POSITIVE_INFINITY },
] as const;

// A grain is sent within AWS's 24 h window of its hour, so older hours cannot have been sent in the window.
const WINDOW_MS = 24 * HOUR_MS;
const THROTTLED = /throttl|rate exceeded|too many requests/i;

export async function status(ctx: CommandContext): Promise<ExitCode> {
  const sinceMs = ctx.duration("since", "24h");
  const withinMs = ctx.duration("within", "3h");
  const at = ctx.at;
  const store = await ctx.openStore();
  const started = performance.now();
  const counts = await store.store.counts();
  const latencyMs = Math.round(performance.now() - started);
  const unsent = await listGrains(store.store, { states: UNSENT });
  const since = at - sinceMs;
  const failed = (await listGrains(store.store, { states: FAILED })).filter(
    (g) => (g.settledAt ?? g.updatedAt) >= since,
  );

  const byAge: Record<string, Partial<Record<GrainState, number>>> = {};
  for (const a of AGES) byAge[a.label] = {};
  for (const g of unsent) {
    const age = at - g.hour;
    const bucket = AGES.find((a) => age < a.max) ?? AGES[3];
    const row = byAge[bucket.label] as Partial<Record<GrainState, number>>;
    row[g.state] = (row[g.state] ?? 0) + 1;
  }

  const oldest = unsent.reduce<StoredGrain | undefined>((o, g) => (!o || g.hour < o.hour ? g : o), undefined);
  const oldestView = oldest && {
    ...customerOf(oldest.identityKey),
    dimension: oldest.dimension,
    hour: iso(oldest.hour),
    state: oldest.state,
    deadline: iso(acceptanceDeadline(oldest.hour)),
    timeLeftMs: acceptanceDeadline(oldest.hour) - at,
  };
  const nearDeadline = unsent.filter((g) => acceptanceDeadline(g.hour) - at < withinMs);
  // Throttled at some point in the window: still retrying, or sent since (the last error stays on the grain).
  const recentSent = await listGrains(store.store, {
    states: ["sent"],
    hourFrom: hourStart(since) - WINDOW_MS,
  });
  const throttled = [...unsent, ...recentSent].filter(
    (g) => g.lastError && THROTTLED.test(g.lastError) && g.updatedAt >= since,
  );
  const deadLeases = unsent.filter((g) => g.leaseOwner !== undefined && (g.leaseUntil ?? 0) <= at);
  const reasons = new Map<string, { state: GrainState; reason: string; count: number }>();
  for (const g of failed) {
    const reason = g.reason ?? g.lastError ?? "(no reason recorded)";
    const k = `${g.state}\u0000${reason}`;
    const r = reasons.get(k) ?? { state: g.state, reason, count: 0 };
    r.count++;
    reasons.set(k, r);
  }

  const atRisk: Array<{ kind: string; count: number; message: string; fix: string }> = [];
  if (nearDeadline.length > 0)
    atRisk.push({
      kind: "near-deadline",
      count: nearDeadline.length,
      message: `${nearDeadline.length} unsent grain(s) within ${human(withinMs)} of their AWS deadline (or past it)`,
      fix: "check that an instance is running and can reach AWS (marketmeter doctor), then marketmeter send",
    });
  for (const state of FAILED) {
    const n = failed.filter((g) => g.state === state).length;
    if (n > 0)
      atRisk.push({
        kind: state,
        count: n,
        message: `${n} grain(s) ${state} in the last ${human(sinceMs)}`,
        fix:
          state === "uncertain"
            ? "compare with the AWS seller reports for those customers and hours (marketmeter usage)"
            : "see the reasons below; marketmeter usage --customer … shows each hour",
      });
  }

  const view = {
    ok: atRisk.length === 0,
    at: iso(at),
    store: { kind: store.kind, where: store.where, reachable: true, latencyMs },
    counts,
    unsentByAge: byAge,
    oldestUnsent: oldestView ?? null,
    lastHours: {
      since: iso(since),
      rejected: failed.filter((g) => g.state === "rejected").length,
      expired: failed.filter((g) => g.state === "expired").length,
      uncertain: failed.filter((g) => g.state === "uncertain").length,
      throttled: throttled.length,
      reasons: [...reasons.values()],
    },
    deadLeases: deadLeases.length,
    atRisk,
  };
  if (ctx.json) {
    ctx.out.write(`${JSON.stringify(view, null, 2)}\n`);
  } else {
    const lines: string[] = [];
    lines.push(`Store: ${store.kind} ${store.where}: reachable (${latencyMs} ms)`);
    lines.push(`As of: ${view.at}`);
    lines.push("");
    lines.push("Grains by state");
    lines.push(
      table(
        ["state", "grains"],
        GRAIN_STATES.map((s) => [s, counts[s] ?? 0]),
      ),
    );
    lines.push("");
    lines.push("Unsent grains by age of their hour");
    lines.push(
      table(
        ["age", ...UNSENT],
        AGES.map((a) => [a.label, ...UNSENT.map((s) => byAge[a.label]?.[s] ?? 0)]),
      ),
    );
    lines.push("");
    lines.push(
      oldestView
        ? `Oldest unsent: ${oldestView.customer} ${oldestView.dimension} ${oldestView.hour} (${oldestView.state}); AWS deadline ${oldestView.deadline}, ${oldestView.timeLeftMs > 0 ? `${human(oldestView.timeLeftMs)} left` : `passed ${human(-oldestView.timeLeftMs)} ago`}`
        : "Oldest unsent: none: everything recorded has been sent or settled",
    );
    lines.push(
      `Last ${human(sinceMs)}: ${view.lastHours.rejected} rejected, ${view.lastHours.expired} expired, ${view.lastHours.uncertain} uncertain, ${throttled.length} throttled`,
    );
    if (reasons.size > 0)
      lines.push(
        table(
          ["state", "reason", "grains"],
          [...reasons.values()].map((r) => [r.state, r.reason, r.count]),
        ),
      );
    if (deadLeases.length > 0)
      lines.push(
        `${deadLeases.length} grain(s) held by an instance whose lease ran out (marketmeter retry releases them)`,
      );
    lines.push("");
    if (atRisk.length === 0) lines.push("OK: nothing at risk");
    else for (const r of atRisk) lines.push(`AT RISK: ${r.message}\n  fix: ${r.fix}`);
    ctx.out.write(`${lines.join("\n")}\n`);
  }
  return atRisk.length === 0 ? EXIT.OK : EXIT.ATTENTION;
}
