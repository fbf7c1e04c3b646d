/** `marketmeter doctor`: checks the AWS setup from where it runs; each line ok / warning / failure + fix. */
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { GetEntitlementsCommand } from "@aws-sdk/client-marketplace-entitlement-service";
import { MeterUsageCommand } from "@aws-sdk/client-marketplace-metering";
import { type AwsClients, createAwsClients } from "@marketmeter/core";
import type { CliConfig } from "../config.js";
import { CliError, EXIT, type ExitCode } from "../errors.js";
import { withTimeout } from "../store.js";
import type { CommandContext } from "./context.js";

type Level = "ok" | "warning" | "failure";
interface Check {
  check: string;
  status: Level;
  detail: string;
  fix?: string;
}

/** AWS refuses signatures more than 5 minutes off; warn well before that. */
const SKEW_FAIL_MS = 5 * 60_000;
const SKEW_WARN_MS = 30_000;
const MIN_SECRET = 16;

/** Where the SDK's default chain will find credentials, in its own order (no secret is read here). */
export function credentialSource(env: NodeJS.ProcessEnv, home = homedir()): string {
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) return "environment variables (AWS_ACCESS_KEY_ID)";
  if (env.AWS_PROFILE) return `profile "${env.AWS_PROFILE}" (AWS_PROFILE, shared config files)`;
  if (existsSync(join(home, ".aws", "credentials")) || existsSync(join(home, ".aws", "config")))
    return 'profile "default" (~/.aws)';
  if (env.AWS_WEB_IDENTITY_TOKEN_FILE)
    return "web identity token (AWS_WEB_IDENTITY_TOKEN_FILE, e.g. EKS IRSA)";
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI)
    return "container credentials (ECS task role or EKS Pod Identity)";
  if (env.AWS_EC2_METADATA_DISABLED === "true") return "none (instance metadata is disabled)";
  return "EC2 instance metadata (instance profile)";
}

const mask = (keyId: string) => (keyId.length > 8 ? `${keyId.slice(0, 4)}…${keyId.slice(-4)}` : "****");
const errName = (err: unknown) => (err as { name?: string })?.name ?? "Error";
// The request reached AWS but its credentials were not accepted (as opposed to accepted but not allowed).
const REFUSED = /UnrecognizedClient|InvalidSignature|SignatureDoesNotMatch|ExpiredToken|InvalidClientTokenId/;
const denied = (err: unknown) => /AccessDenied|Unauthorized|NotAuthorized/i.test(errName(err));

export async function doctor(ctx: CommandContext): Promise<ExitCode> {
  const checks: Check[] = [];
  const add = (c: Check) => checks.push(c);
  let config: CliConfig | undefined;
  try {
    config = ctx.maybeConfig();
    if (config)
      add({
        check: "config",
        status: "ok",
        detail: `${config.products.length} product(s), ${config.dimensions.length} dimension(s) from ${config.source}`,
      });
    else
      add({
        check: "config",
        status: "failure",
        detail: "no product configuration",
        fix: "create marketmeter.config.json ({ products, dimensions }) or pass --config, or set MARKETMETER_PRODUCT_CODE and MARKETMETER_DIMENSIONS",
      });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    add({ check: "config", status: "failure", detail: err.message, fix: "fix the key named above" });
  }

  const region = config?.region ?? ctx.env.AWS_REGION ?? ctx.env.AWS_DEFAULT_REGION;
  add(
    region
      ? {
          check: "region",
          status: "ok",
          detail: `${region}${region === "us-east-1" ? "" : " (SaaS metering goes to the Region of your integration; AWS de-duplicates per Region, so keep it fixed)"}`,
        }
      : {
          check: "region",
          status: "warning",
          detail: "no Region set: us-east-1 is used",
          fix: "set AWS_REGION or region in the config",
        },
  );
  const endpoint = ctx.endpoint(config);
  if (endpoint)
    add({
      check: "endpoint",
      status: "ok",
      detail: `custom endpoint ${endpoint} (the emulator or a proxy; not AWS itself)`,
    });

  const source = credentialSource(ctx.env);
  const clients: AwsClients = createAwsClients({
    ...(region ? { region } : {}),
    ...(endpoint ? { endpoint } : {}),
    requestTimeoutMs: ctx.timeoutMs,
  });
  try {
    let haveCredentials = false;
    try {
      const provider = clients.metering.config.credentials as () => Promise<{
        accessKeyId: string;
        expiration?: Date;
      }>;
      const creds = await withTimeout(provider(), ctx.timeoutMs, `no credentials within ${ctx.timeoutMs} ms`);
      haveCredentials = true;
      add({
        check: "credentials",
        status: "ok",
        detail: `access key ${mask(creds.accessKeyId)} from ${source}${creds.expiration ? `, expires ${creds.expiration.toISOString()}` : ""}`,
      });
    } catch (err) {
      add({
        check: "credentials",
        status: "failure",
        detail: `none found (looked at: ${source}): ${(err as Error).message}`,
        fix: "give the process a role (instance profile, ECS task role, IRSA) or set AWS_PROFILE; never commit access keys",
      });
    }

    await clockSkew(
      endpoint ?? `https://metering.marketplace.${region ?? "us-east-1"}.amazonaws.com/`,
      ctx.timeoutMs,
      add,
    );

    if (config && haveCredentials) {
      const product = config.products[0]?.productCode as string;
      try {
        await clients.metering.send(
          new MeterUsageCommand({
            ProductCode: product,
            Timestamp: new Date(),
            UsageDimension: config.dimensions[0],
            UsageQuantity: 0,
            DryRun: true,
          }),
        );
        add({
          check: "MeterUsage (DryRun)",
          status: "warning",
          detail: "AWS answered without DryRunOperation",
          fix: "check that the endpoint is AWS Marketplace Metering",
        });
      } catch (err) {
        const name = errName(err);
        const message = (err as Error).message;
        if (name === "DryRunOperation")
          add({
            check: "MeterUsage (DryRun)",
            status: "ok",
            detail: "permitted: credentials, signature, Region and endpoint work",
          });
        else if (REFUSED.test(name))
          add({
            check: "MeterUsage (DryRun)",
            status: "failure",
            detail: `AWS refused the credentials: ${name}: ${message}`,
            fix: "check the access key, its session token and that it belongs to the seller account",
          });
        else if (denied(err))
          add({
            check: "MeterUsage (DryRun)",
            status: "warning",
            detail: `credentials accepted, MeterUsage not allowed (${name})`,
            fix: "fine for SaaS products (they meter with BatchMeterUsage); AMI and container products need aws-marketplace:MeterUsage",
          });
        else
          add({
            check: "MeterUsage (DryRun)",
            status: "warning",
            detail: `${name}: ${message}`,
            fix: "check the Region and the endpoint (AWS_ENDPOINT_URL, --endpoint)",
          });
      }
      add({
        check: "BatchMeterUsage",
        status: "warning",
        detail:
          "not checked: no harmless call exists (every accepted record bills, and DryRun is not offered)",
        fix: "make sure the role allows aws-marketplace:BatchMeterUsage; the first send shows AccessDenied in marketmeter status",
      });
      add({
        check: "ResolveCustomer",
        status: "warning",
        detail: "not checked: no harmless call exists (it needs a real registration token)",
        fix: "make sure the role allows aws-marketplace:ResolveCustomer, or buyers cannot register",
      });
      for (const p of config.products) {
        try {
          await clients.entitlement.send(
            new GetEntitlementsCommand({ ProductCode: p.productCode, MaxResults: 1 }),
          );
          add({
            check: `product ${p.productCode}`,
            status: "ok",
            detail: "known to AWS for this seller (GetEntitlements)",
          });
        } catch (err) {
          const name = errName(err);
          if (denied(err))
            add({
              check: `product ${p.productCode}`,
              status: p.contract ? "failure" : "warning",
              detail: `cannot check the product code: ${name}`,
              fix: `allow aws-marketplace:GetEntitlements${p.contract ? " (needed: this product sells contracts)" : " to let doctor check the product code"}`,
            });
          else if (name === "InvalidParameterException")
            add({
              check: `product ${p.productCode}`,
              status: "failure",
              detail: (err as Error).message,
              fix: "copy the product code from the AWS Marketplace Management Portal",
            });
          else
            add({
              check: `product ${p.productCode}`,
              status: "warning",
              detail: `${name}: ${(err as Error).message}`,
              fix: "run doctor again; check network access to the endpoint",
            });
        }
      }
      add({
        check: "dimensions",
        status: "warning",
        detail: `not checked against AWS: no read-only call lists a product's dimensions (${config.dimensions.join(", ")})`,
        fix: "compare these names with the listing's dimensions in the Management Portal (case-sensitive); a wrong one shows as rejected in marketmeter status",
      });
    }
  } finally {
    clients.destroy();
  }

  // The store is optional here; when one is named, doctor says whether this host can use it.
  if (ctx.string("store") !== undefined || ctx.env.MARKETMETER_STORE) {
    try {
      const store = await ctx.openStore();
      const counts = await store.store.counts();
      const grains = Object.values(counts).reduce((a, b) => a + b, 0);
      add({
        check: "store",
        status: "ok",
        detail: `${store.kind} ${store.where}: reachable, ${grains} grain(s)`,
      });
    } catch (err) {
      if (!(err instanceof CliError)) throw err;
      add({
        check: "store",
        status: "failure",
        detail: err.message,
        fix: "see marketmeter status for the same store",
      });
    }
  }

  const secretVar = config?.webhookSecretEnv ?? "MARKETMETER_WEBHOOK_SECRET";
  const secret = ctx.env[secretVar];
  if (!secret)
    add({
      check: "webhook secret",
      status: "warning",
      detail: `${secretVar} is not set: EventBridge notifications to your webhook are refused (401)`,
      fix: `set ${secretVar} (at least ${MIN_SECRET} characters) and send the same value from the EventBridge API destination`,
    });
  else if (secret.length < MIN_SECRET)
    add({
      check: "webhook secret",
      status: "failure",
      detail: `${secretVar} is shorter than ${MIN_SECRET} characters`,
      fix: "use a longer random secret",
    });
  else
    add({
      check: "webhook secret",
      status: "ok",
      detail: `${secretVar} is set (${secret.length} characters)`,
    });

  const failures = checks.filter((c) => c.status === "failure").length;
  if (ctx.json) ctx.out.write(`${JSON.stringify({ ok: failures === 0, checks }, null, 2)}\n`);
  else {
    const width = Math.max(...checks.map((c) => c.check.length));
    const mark: Record<Level, string> = { ok: "ok     ", warning: "warning", failure: "FAILURE" };
    const lines = checks.map(
      (c) =>
        `${mark[c.status]}  ${c.check.padEnd(width)}  ${c.detail}${c.fix && c.status !== "ok" ? `\n${" ".repeat(width + 11)}fix: ${c.fix}` : ""}`,
    );
    const warnings = checks.filter((c) => c.status === "warning").length;
    lines.push("", `${failures} failure(s), ${warnings} warning(s)`);
    ctx.out.write(`${lines.join("\n")}\n`);
  }
  return failures === 0 ? EXIT.OK : EXIT.ATTENTION;
}

/** Skew between this host and the endpoint's `Date` header (1 s resolution; the midpoint of the call). */
async function clockSkew(url: string, timeoutMs: number, add: (c: Check) => void): Promise<void> {
  const t0 = Date.now();
  try {
    const res = await fetch(url, {
      method: "HEAD",
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
    const t1 = Date.now();
    const date = res.headers.get("date");
    if (!date) {
      add({
        check: "clock skew",
        status: "warning",
        detail: `${url} sent no Date header`,
        fix: "check the clock with chrony or ntpd",
      });
      return;
    }
    const skew = Date.parse(date) - (t0 + t1) / 2;
    const abs = Math.abs(skew);
    const detail = `${skew >= 0 ? "behind" : "ahead of"} the endpoint by ${(abs / 1000).toFixed(1)} s`;
    if (abs >= SKEW_FAIL_MS)
      add({
        check: "clock skew",
        status: "failure",
        detail,
        fix: "AWS refuses signatures more than 5 minutes off: sync the clock (chrony, ntpd)",
      });
    else if (abs >= SKEW_WARN_MS + 1000)
      add({
        check: "clock skew",
        status: "warning",
        detail,
        fix: "sync the clock (chrony, ntpd): hours are billed by timestamp",
      });
    else
      add({ check: "clock skew", status: "ok", detail: `within ${Math.ceil(abs / 1000)} s of the endpoint` });
  } catch (err) {
    add({
      check: "clock skew",
      status: "warning",
      detail: `could not reach ${url}: ${(err as Error).message}`,
      fix: "check network access to the endpoint (proxy, VPC endpoint, security groups)",
    });
  }
}
