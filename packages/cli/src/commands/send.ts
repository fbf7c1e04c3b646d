/**
 * `marketmeter send` and `marketmeter retry`: one reporting cycle of the core pipeline (checkpoint, close
 * final hours, claim, send paced, settle) run from here; nothing of it is reimplemented.
 */
import { hostname } from "node:os";
import { createMarketplace, type GrainInfo, type Marketplace, type StoredGrain } from "@marketmeter/core";
import { acceptanceDeadline, HOUR_MS, isAcceptable, isClaimable } from "@marketmeter/core/store";
import { EXIT, type ExitCode } from "../errors.js";
import { customerOf, listGrains } from "../grains.js";
import { iso, Progress, table } from "../output.js";
import type { OpenedStore } from "../store.js";
import type { CommandContext } from "./context.js";

const DEFAULT_GRACE_MS = 5 * 60_000;
const LEASE_MS = 60_000;

interface Done {
  customer: string;
  dimension: string;
  hour: string;
  quantity: number;
  outcome: "sent" | "rejected" | "expired" | "uncertain" | "retrying" | "duplicate";
  detail: string;
}

const grainRow = (g: GrainInfo) => ({
  customer: g.identity.customerAWSAccountId ?? g.identity.customerIdentifier ?? "",
  dimension: g.dimension,
  hour: g.hour.toISOString(),
  quantity: g.quantity,
});

/** What a cycle would do now, read from the store without changing it. */
function plan(grains: StoredGrain[], now: number, graceMs: number) {
  const wouldClose = grains.filter((g) => g.state === "pending" && g.hour + HOUR_MS + graceMs <= now);
  const claimable = grains.filter((g) => isClaimable(g, now)).concat(wouldClose);
  return {
    wouldSend: claimable.filter((g) => isAcceptable(g.hour, now)),
    wouldExpire: claimable.filter((g) => !isAcceptable(g.hour, now)),
    backingOff: grains.filter(
      (g) => g.state === "retrying" && !isClaimable(g, now) && (g.leaseUntil ?? 0) <= now,
    ),
    leased: grains.filter((g) => g.leaseOwner !== undefined && (g.leaseUntil ?? 0) > now),
    deadLeases: grains.filter(
      (g) =>
        (g.state === "closed" || g.state === "retrying") &&
        g.leaseOwner !== undefined &&
        (g.leaseUntil ?? 0) <= now,
    ),
  };
}

const describe = (g: StoredGrain, now: number) => ({
  customer: customerOf(g.identityKey).customer,
  dimension: g.dimension,
  hour: iso(g.hour),
  quantity: g.quantity,
  state: g.state,
  ...(g.nextAttemptAt !== undefined && g.state === "retrying" ? { nextAttemptAt: iso(g.nextAttemptAt) } : {}),
  deadline: iso(acceptanceDeadline(g.hour)),
  ...(g.leaseOwner && (g.leaseUntil ?? 0) <= now ? { deadLeaseOwner: g.leaseOwner } : {}),
});

export function send(ctx: CommandContext): Promise<ExitCode> {
  return run(ctx, "send");
}

export function retry(ctx: CommandContext): Promise<ExitCode> {
  return run(ctx, "retry");
}

async function run(ctx: CommandContext, command: "send" | "retry"): Promise<ExitCode> {
  const config = ctx.config();
  const dryRun = ctx.flag("dry-run");
  const graceMs = config.gracePeriodMs ?? DEFAULT_GRACE_MS;
  const now = Date.now();
  const store = await ctx.openStore();
  const planned = plan(
    await listGrains(store.store, { states: ["pending", "closed", "retrying"] }),
    now,
    graceMs,
  );
  // retry puts retrying grains back in the queue: they go out now, not after their back-off.
  const before =
    command === "retry"
      ? {
          ...planned,
          wouldSend: planned.wouldSend.concat(planned.backingOff.filter((g) => isAcceptable(g.hour, now))),
          wouldExpire: planned.wouldExpire.concat(
            planned.backingOff.filter((g) => !isAcceptable(g.hour, now)),
          ),
          backingOff: [],
        }
      : planned;

  if (dryRun) {
    const view = {
      dryRun: true,
      command,
      ...(command === "retry" ? { wouldRelease: before.deadLeases.map((g) => describe(g, now)) } : {}),
      wouldSend: before.wouldSend.map((g) => describe(g, now)),
      wouldExpire: before.wouldExpire.map((g) => describe(g, now)),
      backingOff: before.backingOff.map((g) => describe(g, now)),
      leasedByRunningInstances: before.leased.length,
    };
    if (ctx.json) ctx.out.write(`${JSON.stringify(view, null, 2)}\n`);
    else {
      const lines = [`Dry run: nothing was changed and nothing was sent.`];
      if (command === "retry")
        lines.push(`Would release ${before.deadLeases.length} lease(s) of instances whose lease ran out.`);
      lines.push(`Would send ${before.wouldSend.length} grain(s):`);
      if (before.wouldSend.length > 0) lines.push(grainTable(view.wouldSend));
      if (before.wouldExpire.length > 0)
        lines.push(
          `Would mark ${before.wouldExpire.length} grain(s) expired (past the AWS window):`,
          grainTable(view.wouldExpire),
        );
      if (before.backingOff.length > 0)
        lines.push(
          `${before.backingOff.length} retrying grain(s) still backing off:`,
          grainTable(view.backingOff),
        );
      if (before.leased.length > 0)
        lines.push(`${before.leased.length} grain(s) are being sent by a running instance.`);
      ctx.out.write(`${lines.join("\n")}\n`);
    }
    return EXIT.OK;
  }

  const owner = `marketmeter-cli-${hostname()}-${process.pid}`;
  let released = 0;
  if (command === "retry" && before.deadLeases.length > 0)
    released = await releaseDeadLeases(store, owner, now);

  const m: Marketplace = createMarketplace({
    products: config.products,
    dimensions: config.dimensions,
    store: store.store,
    aws: {
      ...(config.region ? { region: config.region } : {}),
      ...(ctx.endpoint(config) ? { endpoint: ctx.endpoint(config) } : {}),
    },
    autoStart: false,
    instanceId: owner,
    ...(config.gracePeriodMs !== undefined ? { gracePeriodMs: config.gracePeriodMs } : {}),
    ...(config.callsPerSecond !== undefined ? { callsPerSecond: config.callsPerSecond } : {}),
  });
  const done: Done[] = [];
  const errors: string[] = [];
  const progress = new Progress(!ctx.json);
  const add = (d: Done) => {
    done.push(d);
    progress.update(`${command}: ${done.length} grain(s) settled…`);
  };
  m.on("sent", (e) => add({ ...grainRow(e.grain), outcome: "sent", detail: e.meteringRecordId ?? "" }));
  m.on("rejected", (e) => add({ ...grainRow(e.grain), outcome: "rejected", detail: e.reason }));
  m.on("expired", (e) => add({ ...grainRow(e.grain), outcome: "expired", detail: e.reason }));
  m.on("uncertain", (e) => add({ ...grainRow(e.grain), outcome: "uncertain", detail: e.check }));
  m.on("duplicate", (e) =>
    add({
      ...grainRow(e.grain),
      outcome: "duplicate",
      detail: e.ownEarlierWrite ? "our own earlier write" : "billed earlier by another record",
    }),
  );
  m.on("retrying", (e) => {
    for (const g of e.grains)
      add({
        ...grainRow(g),
        outcome: "retrying",
        detail: `${e.error}; next attempt ${e.nextAttemptAt.toISOString()}`,
      });
  });
  m.on("error", (e) => errors.push(e.error.message));
  try {
    await m.flush(command === "retry" ? { ignoreBackoff: true } : {});
  } catch (err) {
    errors.push((err as Error).message);
  } finally {
    progress.done();
    // close() saves nothing new here (nothing was recorded) and closes the store.
    await m.close();
  }
  const failed = done.filter((d) => d.outcome !== "sent" && d.outcome !== "duplicate").length + errors.length;
  const after = before.backingOff.map((g) => describe(g, now));
  if (ctx.json) {
    ctx.out.write(
      `${JSON.stringify({ command, released, done, stillBackingOff: after, errors }, null, 2)}\n`,
    );
  } else {
    const lines: string[] = [];
    if (command === "retry") lines.push(`Released ${released} lease(s) of instances whose lease ran out.`);
    const n = (o: Done["outcome"]) => done.filter((d) => d.outcome === o).length;
    lines.push(
      done.length === 0
        ? "Nothing was due."
        : `Sent ${n("sent")}, duplicate ${n("duplicate")}, rejected ${n("rejected")}, expired ${n("expired")}, uncertain ${n("uncertain")}, retrying ${n("retrying")}:`,
    );
    if (done.length > 0)
      lines.push(
        table(
          ["customer", "dimension", "hour", "quantity", "outcome", "detail"],
          done.map((d) => [d.customer, d.dimension, d.hour, d.quantity, d.outcome, d.detail]),
        ),
      );
    if (after.length > 0)
      lines.push(
        `${after.length} retrying grain(s) still backing off (sent by the next cycle after their next attempt time):`,
        grainTable(after),
      );
    for (const e of errors) lines.push(`ERROR: ${e}`);
    ctx.out.write(`${lines.join("\n")}\n`);
  }
  return failed === 0 ? EXIT.OK : EXIT.ATTENTION;
}

/**
 * A lease whose holder died is taken over by a claim, which marks the grain uncertain (the dead holder
 * may have sent it), and given back at once, so the next cycle of any instance sends it.
 */
async function releaseDeadLeases(store: OpenedStore, owner: string, now: number): Promise<number> {
  const all = await listGrains(store.store, { states: ["closed", "retrying"] });
  const claimable = all.filter((g) => isClaimable(g, now, undefined, true));
  const dead = new Set(claimable.filter((g) => g.leaseOwner !== undefined).map((g) => g.key));
  if (dead.size === 0) return 0;
  const claimed = await store.store.claim({
    owner,
    now,
    leaseMs: LEASE_MS,
    limit: claimable.length,
    ignoreBackoff: true,
  });
  await store.store.release(
    claimed.map((g) => ({ key: g.key, leaseToken: g.leaseToken })),
    owner,
  );
  return claimed.filter((g) => dead.has(g.key)).length;
}

function grainTable(rows: Array<ReturnType<typeof describe>>): string {
  return table(
    ["customer", "dimension", "hour", "quantity", "state", "deadline", "next attempt"],
    rows.map((r) => [
      r.customer,
      r.dimension,
      r.hour,
      r.quantity,
      r.state,
      r.deadline,
      r.nextAttemptAt ?? "",
    ]),
  );
}
