/** Server-side HTML where every interpolated value is escaped unless it is already `Html`. */
import { escapeHtml } from "../problem.js";

/** Markup that is already safe to insert. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

type Part = Html | string | number | undefined | null | false | readonly Part[];

function text(part: Part): string {
  if (part === undefined || part === null || part === false) return "";
  if (part instanceof Html) return part.value;
  if (Array.isArray(part)) return part.map(text).join("");
  return escapeHtml(String(part));
}

/** A tagged template: literal text as written, every `${value}` escaped (arrays are joined). */
export function html(strings: TemplateStringsArray, ...values: Part[]): Html {
  let out = strings[0] as string;
  for (let i = 0; i < values.length; i++) out += text(values[i] as Part) + (strings[i + 1] as string);
  return new Html(out);
}
