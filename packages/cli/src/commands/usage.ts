/** `marketmeter usage`: the audit export, per customer, dimension and hour. */
import { HOUR_MS } from "@marketmeter/core/store";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { customerOf, listGrains, matchesCustomer } from "../grains.js";
import { csv, iso, table } from "../output.js";
import { parseChoice, parseCustomer, parseDimension, parsePeriod } from "../parse.js";
import type { CommandContext } from "./context.js";

const FORMATS = ["table", "csv", "json"] as const;
const HEADERS = [
  "hour",
  "product",
  "customer",
  "license",
  "dimension",
  "recorded",
  "sent",
  "meteringRecordId",
  "state",
  "reason",
] as const;

export async function usage(ctx: CommandContext): Promise<ExitCode> {
  const customer = parseCustomer(ctx.string("customer") ?? "");
  const { from, to } = parsePeriod(ctx.string("from"), ctx.string("to"), ctx.at);
  const dimensionText = ctx.string("dimension");
  const dimension = dimensionText === undefined ? undefined : parseDimension(dimensionText);
  const format = ctx.json ? "json" : parseChoice(ctx.string("format") ?? "table", FORMATS, "--format");
  const store = await ctx.openStore();
  // The grain's hour covers [hour, hour + 1h): an hour that started before --from still overlaps it.
  const inPeriod = (
    await listGrains(store.store, { hourFrom: Math.floor(from / HOUR_MS) * HOUR_MS, hourTo: to })
  ).filter((g) => matchesCustomer(g.identityKey, customer));
  if (inPeriod.length === 0) {
    // Unknown customer (a typo, another store) versus a known one with no usage in the period.
    const anywhere = (await listGrains(store.store)).some((g) => matchesCustomer(g.identityKey, customer));
    if (!anywhere)
      throw new CliError(
        "UNKNOWN_CUSTOMER",
        `no customer ${JSON.stringify(customer)} in the store at ${store.where}: give an AWS account id, a license ARN or id (l-…), or a legacy customer identifier`,
      );
  }
  const rows = inPeriod
    .filter((g) => dimension === undefined || g.dimension === dimension)
    .map((g) => {
      const c = customerOf(g.identityKey);
      return {
        hour: iso(g.hour),
        product: c.productCode,
        customer: c.customer,
        license: c.licenseArn ?? "",
        dimension: g.dimension,
        recorded: g.quantity,
        // What AWS has: the whole grain once it is sent; a dry-run "send" reached no AWS.
        sent: g.state === "sent" && g.reason !== "dry-run" ? g.quantity : 0,
        meteringRecordId: g.meteringRecordId ?? "",
        state: g.state,
        reason: g.reason ?? g.lastError ?? "",
      };
    });
  if (format === "json") {
    ctx.out.write(`${JSON.stringify({ customer, from: iso(from), to: iso(to), rows }, null, 2)}\n`);
  } else if (format === "csv") {
    ctx.out.write(
      csv(
        HEADERS,
        rows.map((r) => HEADERS.map((h) => r[h])),
      ),
    );
  } else {
    const recorded = rows.reduce((s, r) => s + r.recorded, 0);
    const sent = rows.reduce((s, r) => s + r.sent, 0);
    ctx.out.write(
      `Usage of ${customer} from ${iso(from)} to ${iso(to)}${dimension ? ` (${dimension})` : ""}\n` +
        (rows.length === 0
          ? "No usage in this period.\n"
          : `${table(
              ["hour", "dimension", "recorded", "sent", "meteringRecordId", "state", "reason"],
              rows.map((r) => [
                r.hour,
                r.dimension,
                r.recorded,
                r.sent,
                r.meteringRecordId,
                r.state,
                r.reason,
              ]),
            )}\nTotal: ${recorded} recorded, ${sent} sent in ${rows.length} grain(s)\n`),
    );
  }
  return EXIT.OK;
}
