import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { extractSnippets } from "./snippets.js";

describe("extractSnippets", () => {
  it("finds ts and typescript blocks with the line of their fence, and the reason of an opt-out", () => {
    const md = [
      "# Title", // 1
      "```ts", // 2
      "const a = 1;", // 3
      "```", // 4
      "```bash", // 5
      "echo no", // 6
      "```", // 7
      "<!-- docs-check: skip (a fragment of the class above) -->", // 8
      "~~~typescript", // 9
      "@Get() x() {}", // 10
      "~~~", // 11
      "1. a list item", // 12
      "   ```ts", // 13
      "   const b = 2;", // 14
      "     nested();", // 15
      "   ```", // 16
    ].join("\n");
    expect(extractSnippets(md, "R.md")).toEqual([
      { file: "R.md", line: 2, code: "const a = 1;" },
      { file: "R.md", line: 9, code: "@Get() x() {}", skip: "(a fragment of the class above)" },
      { file: "R.md", line: 13, code: "const b = 2;\n  nested();" },
    ]);
  });

  it("a shorter or different fence does not close a block; an unclosed block runs to the end", () => {
    const md = ["````ts", "```", "~~~", "x;", "````", "```ts", "y;"].join("\n");
    expect(extractSnippets(md, "R.md")).toEqual([
      { file: "R.md", line: 1, code: "```\n~~~\nx;" },
      { file: "R.md", line: 6, code: "y;" },
    ]);
  });

  it("property: the blocks written into a document come back, in order, at their lines", () => {
    const codeLine = fc.stringMatching(/^[a-z0-9 ();=.{}"']{0,30}$/);
    const part = fc.oneof(
      fc.record({
        kind: fc.constant("prose" as const),
        lines: fc.array(fc.stringMatching(/^[A-Za-z0-9 #*.,-]{0,30}$/), { maxLength: 3 }),
      }),
      fc.record({
        kind: fc.constant("code" as const),
        lang: fc.constantFrom("ts", "typescript", "TS", "bash", "json", ""),
        fence: fc.constantFrom("```", "````", "~~~"),
        indent: fc.constantFrom("", "   "),
        skip: fc.option(fc.constantFrom("(why)", "a fragment"), { nil: undefined }),
        lines: fc.array(codeLine, { maxLength: 4 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(part, { maxLength: 8 }), (parts) => {
        const doc: string[] = [];
        const expected: Array<{ line: number; code: string; skip?: string }> = [];
        for (const p of parts) {
          if (p.kind === "prose") {
            doc.push(...p.lines.map((l) => l.replace(/^[ ]*/, "")));
            continue;
          }
          doc.push(""); // prose above must not look like a marker
          if (p.skip !== undefined) doc.push(`<!-- docs-check: skip ${p.skip} -->`);
          const line = doc.length + 1;
          doc.push(`${p.indent}${p.fence}${p.lang}`, ...p.lines.map((l) => p.indent + l), p.indent + p.fence);
          if (["ts", "typescript"].includes(p.lang.toLowerCase()))
            expected.push({
              line,
              code: p.lines.join("\n"),
              ...(p.skip !== undefined ? { skip: p.skip } : {}),
            });
        }
        const found = extractSnippets(doc.join("\n"), "R.md").map(({ file: _f, ...s }) => s);
        expect(found).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
