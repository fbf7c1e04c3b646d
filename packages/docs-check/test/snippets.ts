/** A TypeScript block of a Markdown file. */
export interface Snippet {
  /** The Markdown file, relative to the repository root. */
  file: string;
  /** 1-based line of the opening fence; the code starts on the next line. */
  line: number;
  /** The block's text, without the fences and the list indentation. */
  code: string;
  /** Why the block is not compiled, when `<!-- docs-check: skip (why) -->` is just above its fence. */
  skip?: string;
}

// Any indentation: fences inside list items are indented with the item.
const FENCE = /^( *)(`{3,}|~{3,})(.*)$/;
const SKIP = /^\s*<!--\s*docs-check:\s*skip\b(.*?)-->\s*$/;
const TS_LANGS = new Set(["ts", "typescript", "mts", "cts"]);

/**
 * The ```ts / ```typescript blocks of a Markdown text, in order (CommonMark fences: backticks or
 * tildes, closed by a fence of the same character at least as long; the opening fence's indentation
 * is removed from the block's lines).
 */
export function extractSnippets(markdown: string, file: string): Snippet[] {
  const lines = markdown.split(/\r?\n/);
  const out: Snippet[] = [];
  let i = 0;
  while (i < lines.length) {
    const open = matchFence(lines[i] as string);
    if (!open || (open.char === "`" && open.info.includes("`"))) {
      i++;
      continue;
    }
    const start = i;
    const body: string[] = [];
    i++;
    while (i < lines.length) {
      const close = matchFence(lines[i] as string);
      if (close && close.char === open.char && close.size >= open.size && close.info.trim() === "") break;
      body.push(stripIndent(lines[i] as string, open.indent));
      i++;
    }
    i++; // past the closing fence (or the end)
    const lang = open.info.trim().split(/\s+/)[0]?.toLowerCase() ?? "";
    if (!TS_LANGS.has(lang)) continue;
    const snippet: Snippet = { file, line: start + 1, code: body.join("\n") };
    const above = start > 0 ? SKIP.exec(lines[start - 1] as string) : null;
    if (above) snippet.skip = (above[1] ?? "").trim();
    out.push(snippet);
  }
  return out;
}

function matchFence(line: string): { indent: number; char: string; size: number; info: string } | undefined {
  const m = FENCE.exec(line);
  if (!m) return undefined;
  const fence = m[2] as string;
  return { indent: (m[1] as string).length, char: fence[0] as string, size: fence.length, info: m[3] ?? "" };
}

function stripIndent(line: string, indent: number): string {
  let n = 0;
  while (n < indent && line[n] === " ") n++;
  return line.slice(n);
}
