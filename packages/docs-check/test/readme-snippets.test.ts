// Every ```ts block of the READMEs is compiled as its own module against the built packages, so a
// snippet a reader copies type-checks (strict, NodeNext) as written. A block that is deliberately a
// fragment opts out with `<!-- docs-check: skip (why) -->` on the line just above its fence.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { defined } from "./defined.js";
import { extractSnippets, type Snippet } from "./snippets.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
// Virtual files live under this package, so imports resolve through its node_modules like a user's app.
const virtualDir = resolve(here, "../.snippets");

const readmes = [
  "README.md",
  ...["packages", "examples"].flatMap((dir) =>
    readdirSync(join(root, dir), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => `${dir}/${d.name}/README.md`)
      .filter((file) => {
        try {
          readFileSync(join(root, file));
          return true;
        } catch {
          return false;
        }
      }),
  ),
];

const snippets: Snippet[] = readmes.flatMap((file) =>
  extractSnippets(readFileSync(join(root, file), "utf8"), file),
);
const checked = snippets.filter((s) => s.skip === undefined);
const fileOf = (s: Snippet) => join(virtualDir, `${s.file.replaceAll("/", "__")}__L${s.line}.ts`);

const options: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ["lib.es2023.d.ts"],
  types: ["node"],
  strict: true,
  noUncheckedIndexedAccess: true,
  esModuleInterop: true,
  skipLibCheck: true,
  isolatedModules: true,
  // NestJS decorators (the NestJS README) are legacy decorators with emitted metadata.
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  noEmit: true,
};

/** `file:line: TSxxxx message` for each error, with the README's own line numbers. */
function diagnose(): Map<string, string[]> {
  const sources = new Map(checked.map((s) => [fileOf(s), `${s.code}\nexport {};\n`]));
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => sources.has(f) || fileExists.call(host, f);
  host.readFile = (f) => sources.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, onError, create) => {
    const text = sources.get(f);
    return text === undefined
      ? getSourceFile.call(host, f, lang, onError, create)
      : ts.createSourceFile(f, text, lang, true);
  };
  const program = ts.createProgram({ rootNames: [...sources.keys()], options, host });
  const out = new Map<string, string[]>(checked.map((s) => [fileOf(s), []]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const message = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    const list = d.file ? out.get(d.file.fileName) : undefined;
    const snippet = d.file ? checked.find((s) => fileOf(s) === d.file?.fileName) : undefined;
    if (!list || !snippet || d.start === undefined) {
      // An error outside the snippets (options, a package's types) fails every snippet: say so.
      const where = d.file ? relative(root, d.file.fileName) : "compiler options";
      for (const l of out.values()) l.push(`${where}: TS${d.code} ${message}`);
      continue;
    }
    const { line } = defined(d.file).getLineAndCharacterOfPosition(d.start);
    list.push(`${snippet.file}:${snippet.line + 1 + line}: TS${d.code} ${message}`);
  }
  return out;
}

describe("README snippets type-check against the built packages", () => {
  let results: Map<string, string[]> | undefined;
  const errorsOf = (s: Snippet) => {
    results ??= diagnose();
    return results.get(fileOf(s));
  };

  it("finds the snippets, and every opt-out says why", () => {
    expect(checked.length).toBeGreaterThan(5);
    for (const s of snippets.filter((x) => x.skip !== undefined))
      expect(s.skip, `${s.file}:${s.line}: say why the block is skipped`).toMatch(/\w{3,}/);
  });

  it.each(checked.map((s) => [`${s.file}:${s.line}`, s] as const))("%s", (_name, s) => {
    expect(errorsOf(s)).toEqual([]);
  });
});
