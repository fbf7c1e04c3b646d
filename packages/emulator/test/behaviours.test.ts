// Test names and comments cite the behaviours of BEHAVIOURS.md by id (`batch-dedup.zero-locks-hour`), never
// by a number of a list kept elsewhere, so a reader can always look the rule up inside the repository.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import ts from "typescript";
import { describe, expect, it } from "vitest";
import { defined } from "./defined.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../..");
const DOC = resolve(here, "../BEHAVIOURS.md");

const ID = /^[a-z][a-z0-9]*(?:-[a-z0-9]+)*\.[a-z0-9]+(?:-[a-z0-9]+)*$/;
const PROVENANCE = /\((?:AWS|guidance|ours)\b[^()]*(?:\([^()]*\)[^()]*)*\)$/;

interface Behaviour {
  id: string;
  line: number;
  text: string;
}

/** Entries of the behaviours doc: a list item starting with a code-quoted id, up to the next item. */
export function parseBehaviours(markdown: string): Behaviour[] {
  const out: Behaviour[] = [];
  let current: Behaviour | undefined;
  markdown.split("\n").forEach((line, i) => {
    const start = /^- `([^`]+)` (.*)$/.exec(line);
    if (start) {
      current = { id: defined(start[1]), line: i + 1, text: defined(start[2]).trim() };
      out.push(current);
    } else if (current && /^ {2}\S/.test(line)) {
      current.text += ` ${line.trim()}`;
    } else {
      current = undefined;
    }
  });
  return out;
}

interface Citation {
  kind: "title" | "comment";
  text: string;
  line: number;
}

const TEST_FUNCTIONS = new Set(["describe", "it", "test", "suite", "bench"]);

function calleeRoot(e: ts.Expression): string | undefined {
  while (ts.isPropertyAccessExpression(e) || ts.isCallExpression(e)) e = e.expression;
  return ts.isIdentifier(e) ? e.text : undefined;
}

function literalText(e: ts.Expression | undefined): string | undefined {
  if (!e) return undefined;
  if (ts.isStringLiteralLike(e)) return e.text;
  if (ts.isTemplateExpression(e))
    return [e.head.text, ...e.templateSpans.map((s) => s.literal.text)].join(" ");
  return undefined;
}

/** Test titles (first argument of describe/it/test, `.each`/`.skip` included) and comments of a source. */
export function textsOf(fileName: string, source: string): Citation[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true);
  const out: Citation[] = [];
  const lineOf = (pos: number) => sf.getLineAndCharacterOfPosition(pos).line + 1;
  const seen = new Set<number>();
  const visit = (node: ts.Node): void => {
    // A comment after code on the same line is trailing trivia of that code, not leading trivia of the next.
    const ranges = [
      ...(ts.getLeadingCommentRanges(source, node.pos) ?? []),
      ...(ts.getTrailingCommentRanges(source, node.end) ?? []),
    ];
    for (const r of ranges) {
      if (seen.has(r.pos)) continue;
      seen.add(r.pos);
      out.push({ kind: "comment", text: source.slice(r.pos, r.end), line: lineOf(r.pos) });
    }
    if (ts.isCallExpression(node)) {
      const name = calleeRoot(node.expression);
      const title = literalText(node.arguments[0]);
      if (name && TEST_FUNCTIONS.has(name) && title !== undefined) {
        out.push({ kind: "title", text: title, line: lineOf(defined(node.arguments[0]).getStart(sf)) });
      }
    }
    for (const child of node.getChildren(sf)) visit(child);
  };
  visit(sf);
  return out;
}

/** A hash and one to three digits, as the old outside checklist was cited; entities such as `&#39;` are not. */
const BARE_NUMBER = /(?<![&\w])#\d{1,3}(?!\w)/g;
/** `area.name`, not part of a longer dotted or hyphenated word and not a call. */
const CITATION = /(?<![\w.$@/-])([a-z][a-z0-9]*(?:-[a-z0-9]+)*)\.([a-z0-9]+(?:-[a-z0-9]+)*)(?!\.?[\w$(])/g;

export interface Problem {
  where: string;
  problem: string;
}

/** Ids cited in `texts` (only areas the doc defines count), and the problems found. */
export function checkTexts(
  where: string,
  texts: Citation[],
  ids: ReadonlySet<string>,
  areas: ReadonlySet<string>,
): { cited: string[]; problems: Problem[] } {
  const cited: string[] = [];
  const problems: Problem[] = [];
  for (const t of texts) {
    const at = `${where}:${t.line} (${t.kind})`;
    for (const m of t.text.matchAll(BARE_NUMBER)) {
      problems.push({
        where: at,
        problem: `cites the bare number ${m[0]}; cite a BEHAVIOURS.md id or state the rule in words`,
      });
    }
    for (const m of t.text.matchAll(CITATION)) {
      if (!areas.has(defined(m[1]))) continue;
      if (ids.has(m[0])) cited.push(m[0]);
      else problems.push({ where: at, problem: `cites ${m[0]}, which BEHAVIOURS.md does not define` });
    }
  }
  return { cited, problems };
}

/** Source files of every package and example (their src and test folders). */
function sourceFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.name === "node_modules" || e.name === "dist" || e.name.startsWith(".")) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.(?:[cm]?ts|tsx|[cm]?js)$/.test(e.name) && !e.name.endsWith(".d.ts")) out.push(p);
    }
  };
  for (const top of ["packages", "examples"]) {
    for (const pkg of readdirSync(join(root, top), { withFileTypes: true })) {
      if (!pkg.isDirectory()) continue;
      for (const sub of ["src", "test"]) walk(join(root, top, pkg.name, sub));
    }
  }
  return out;
}

const behaviours = parseBehaviours(readFileSync(DOC, "utf8"));
const ids = new Set(behaviours.map((b) => b.id));
const areas = new Set(behaviours.map((b) => defined(b.id.split(".")[0])));

describe("BEHAVIOURS.md", () => {
  it("defines well-formed, unique ids, each saying where the behaviour comes from", () => {
    expect(behaviours.length).toBeGreaterThan(100);
    const bad = behaviours.filter((b) => !ID.test(b.id)).map((b) => `line ${b.line}: ${b.id}`);
    expect(bad).toEqual([]);
    const counts = new Map<string, number>();
    for (const b of behaviours) counts.set(b.id, (counts.get(b.id) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1).map(([id]) => id)).toEqual([]);
    const untagged = behaviours.filter((b) => !PROVENANCE.test(b.text)).map((b) => `line ${b.line}: ${b.id}`);
    expect(untagged).toEqual([]);
  });

  it("test names and comments cite only ids it defines, never a bare checklist number; every id is cited", () => {
    const problems: Problem[] = [];
    const cited = new Set<string>();
    for (const file of sourceFiles()) {
      const where = relative(root, file);
      const found = checkTexts(where, textsOf(file, readFileSync(file, "utf8")), ids, areas);
      problems.push(...found.problems);
      for (const id of found.cited) cited.add(id);
    }
    expect(problems.map((p) => `${p.where}: ${p.problem}`)).toEqual([]);
    // A behaviour no test cites is a claim nothing checks.
    expect([...ids].filter((id) => !cited.has(id))).toEqual([]);
  });
});

describe("the citation check itself", () => {
  const known = new Set(["batch-dedup.zero-locks-hour"]);
  const knownAreas = new Set(["batch-dedup"]);
  const check = (source: string) => checkTexts("x.test.ts", textsOf("x.test.ts", source), known, knownAreas);

  it("flags bare numbers and unknown ids in titles and comments, and nothing in code or data", () => {
    const source = [
      "// #12 the old way",
      'describe("batch-dedup.zero-locks-hour: fine", () => {',
      '  it("#127 posts a form", () => {});',
      // A title written as a template with a placeholder.
      "  it(`batch-dedup.no-such-rule: $" + "{x}`, () => {});",
      "  /* see batch-dedup.also-missing */",
      '  const tag = ["team#1", "a!b"]; // &#39; is an entity, batch-dedup.zero-locks-hour a citation',
      "  state.batch-dedup.nope(); profile.regions.length;",
      "});",
    ].join("\n");
    const { cited, problems } = check(source);
    expect(problems.map((p) => p.problem)).toEqual([
      expect.stringContaining("#12"),
      expect.stringContaining("#127"),
      expect.stringContaining("batch-dedup.no-such-rule"),
      expect.stringContaining("batch-dedup.also-missing"),
    ]);
    expect(cited).toEqual(["batch-dedup.zero-locks-hour", "batch-dedup.zero-locks-hour"]);
  });

  it("finds every documented id wherever it sits in a comment or a title (property)", () => {
    const word = fc.stringMatching(/^[A-Za-z ,:;→]{0,20}$/);
    fc.assert(
      fc.property(fc.constantFrom(...ids), word, word, fc.boolean(), (id, before, after, asTitle) => {
        const text = `${before} ${id} ${after}`.replace(/[`$\\*/]/g, "");
        const source = asTitle ? `it(\`${text}\`, () => {});` : `// ${text}\nexport {};`;
        const { cited, problems } = checkTexts("p.ts", textsOf("p.ts", source), ids, areas);
        expect(problems).toEqual([]);
        expect(cited).toContain(id);
      }),
    );
  });

  it("flags any bare number from 0 to 999 at the start of a test name (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 999 }), (n) => {
        const { problems } = check(`it("#${n} something", () => {});`);
        expect(problems).toHaveLength(1);
      }),
    );
  });
});
