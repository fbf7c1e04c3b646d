import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as core from "../src/index.js";

// One style per kind of component (CONTRIBUTING.md): what an app author creates comes from a factory that
// returns an interface; internal stateful engines are classes whose private state is `#private`.
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

// record() runs on every metered request: these two keep their field layout as it is (TypeScript
// `private`), so the hot path's object shape is never touched by a style change.
const RECORD_PATH = ["usage/accumulator.ts", "marketplace/marketplace.ts"];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

const isClass = (v: unknown) =>
  typeof v === "function" && /^class\b/.test(Function.prototype.toString.call(v));

/** Members declared with TypeScript's `private`/`protected` keyword, as `line: text`. */
export function keywordPrivates(text: string): string[] {
  return text
    .split("\n")
    .map((line, i) => [i + 1, line] as const)
    .filter(
      ([, line]) =>
        /^\s+(private|protected)\s/.test(line) || /constructor\([^)]*\b(private|protected)\s/.test(line),
    )
    .map(([n, line]) => `${n}: ${line.trim()}`);
}

describe("component style", () => {
  it("the main entry creates components with factories: its only class is the error class", () => {
    const classes = Object.entries(core)
      .filter(([, v]) => isClass(v))
      .map(([k]) => k);
    expect(classes).toEqual(["MarketplaceError"]);
  });

  it("classes keep private state in #private fields (the record() path excepted)", () => {
    const offenders = sources(SRC)
      .filter((f) => !f.endsWith(".test.ts") && !RECORD_PATH.includes(relative(SRC, f)))
      .flatMap((f) => keywordPrivates(readFileSync(f, "utf8")).map((m) => `${relative(SRC, f)}:${m}`));
    expect(offenders).toEqual([]);
  });

  it("finds keyword-private members", () => {
    const text =
      "class A {\n  private readonly a = 1;\n  #b = 2;\n  constructor(private readonly o: number) {}\n}";
    expect(keywordPrivates(text)).toEqual([
      "2: private readonly a = 1;",
      "4: constructor(private readonly o: number) {}",
    ]);
  });
});
