/** `value`, failing the test when it is missing (where a non-null assertion would let it through). */
export function defined<T>(value: T | null | undefined, what = "value"): T {
  if (value === undefined || value === null) throw new Error(`expected ${what} to be present`);
  return value;
}
