#!/usr/bin/env node
// `npm create marketmeter@latest my-api -- --template hono`: copies one of the starters this package
// carries into a new folder, names the package after the folder, and says what to run next.
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { createInterface } from "node:readline/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const TEMPLATES = ["express", "koa", "hono", "nestjs"] as const;
type Template = (typeof TEMPLATES)[number];

/** A refusal the user can fix; printed as one line, exit code 1. */
class CreateError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const HELP = `Usage: create-marketmeter <folder> [--template express|koa|hono|nestjs] [--force]

  -t, --template  the web framework of the starter (asked for when omitted in a terminal)
  -f, --force     write into a folder that is not empty
  -h, --help      show this help`;

const templatesDir = join(dirname(fileURLToPath(import.meta.url)), "..", "templates");

function isTemplate(value: string): value is Template {
  return (TEMPLATES as readonly string[]).includes(value);
}

/** npm's rules for a package name, from the folder's name. */
function packageName(dir: string): string {
  const name = basename(resolve(dir))
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, "-")
    .replace(/^[._-]+/, "");
  return name || "marketmeter-app";
}

/** The package manager that ran us (`pnpm create`, `yarn create`, `npm create`). */
function packageManager(): "npm" | "pnpm" | "yarn" | "bun" {
  const agent = process.env.npm_config_user_agent ?? "";
  for (const pm of ["pnpm", "yarn", "bun"] as const) if (agent.startsWith(`${pm}/`)) return pm;
  return "npm";
}

async function ask(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return (await rl.question(question)).trim();
  } finally {
    rl.close();
  }
}

async function options(
  argv: string[],
): Promise<{ dir: string; template: Template; force: boolean } | undefined> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    throw new CreateError("MM_CREATE_BAD_ARGUMENT", `${(err as Error).message}\n\n${HELP}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return undefined;
  }
  if (positionals.length > 1)
    throw new CreateError("MM_CREATE_BAD_ARGUMENT", `one folder, please; got ${positionals.join(" ")}`);
  const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY);
  let dir = positionals[0];
  if (!dir && interactive) dir = (await ask("Folder for the new app (my-api): ")) || "my-api";
  if (!dir) throw new CreateError("MM_CREATE_NO_FOLDER", `give the folder to create, e.g. my-api\n\n${HELP}`);
  let template = values.template;
  if (template === undefined && interactive)
    template = (await ask(`Web framework (${TEMPLATES.join(", ")}) [hono]: `)).toLowerCase() || "hono";
  if (template === undefined)
    throw new CreateError(
      "MM_CREATE_NO_TEMPLATE",
      `give --template ${TEMPLATES.join("|")} (no terminal to ask)`,
    );
  if (!isTemplate(template))
    throw new CreateError(
      "MM_CREATE_UNKNOWN_TEMPLATE",
      `unknown template "${template}"; choose one of ${TEMPLATES.join(", ")}`,
    );
  return { dir, template, force: values.force ?? false };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      template: { type: "string", short: "t" },
      force: { type: "boolean", short: "f" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/** Copies the starter into `dir`; refuses a folder with anything but a .git in it unless `force`. */
function scaffold(dir: string, template: Template, force = false): void {
  const target = resolve(dir);
  const source = join(templatesDir, template);
  if (!existsSync(source))
    throw new CreateError(
      "MM_CREATE_NO_TEMPLATES",
      `this package has no templates/${template} (run its build)`,
    );
  if (existsSync(target)) {
    const entries = readdirSync(target).filter((name) => name !== ".git");
    if (entries.length > 0 && !force)
      throw new CreateError(
        "MM_CREATE_NOT_EMPTY",
        `${relative(process.cwd(), target) || "."} is not empty; choose a new folder or pass --force to write into it`,
      );
  }
  cpSync(source, target, { recursive: true });
  renameSync(join(target, "_gitignore"), join(target, ".gitignore"));
  const pkgPath = join(target, "package.json");
  const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as Record<string, unknown>;
  pkg.name = packageName(target);
  // pnpm 10 runs install scripts only when allowed: the SQLite store's native module needs its build.
  pkg.pnpm = { onlyBuiltDependencies: ["better-sqlite3"] };
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
}

async function main(): Promise<void> {
  const opts = await options(process.argv.slice(2));
  if (!opts) return;
  scaffold(opts.dir, opts.template, opts.force);
  const pm = packageManager();
  const run = (script: string) => (pm === "npm" ? `npm run ${script}` : `${pm} ${script}`);
  const cd = relative(process.cwd(), resolve(opts.dir));
  console.log(
    [
      `Created ${cd || "."} from the ${opts.template} starter.`,
      "",
      "Next steps:",
      ...(cd ? [`  cd ${cd}`] : []),
      `  ${pm} install`,
      `  ${run("start")}    # emulator mode: no AWS account needed, nothing leaves this machine`,
      `  ${run("test")}`,
      "",
      "To meter real buyers, set MARKETMETER_PRODUCT_CODE and AWS_REGION (see README.md).",
    ].join("\n"),
  );
}

main().catch((err: unknown) => {
  if (err instanceof CreateError) console.error(`create-marketmeter: ${err.message} [${err.code}]`);
  else console.error(err);
  process.exit(1);
});
