const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/**
 * Escapes text for HTML/SVG content and quoted attribute values. Everything on the billing page that
 * came from a request (identifiers, dimensions, ids) goes through here, so markup in it stays inert.
 *
 * @example
 * escapeHtml('<script>alert(1)</script>') // "&lt;script&gt;alert(1)&lt;/script&gt;"
 */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 });

export function formatNumber(value: number): string {
  return numberFormat.format(value);
}

/** `2026-07-15T09:00:00.000Z` → `2026-07-15 09:00`. */
export function formatHour(iso: string): string {
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}
