// Who may open the seller's usage page (ROUTES.usagePage): your operators, never your buyers.
import { createHash, timingSafeEqual } from "node:crypto";

/** What the usage page is mounted with, or undefined when it is not mounted. */
export type UsagePageAccess<A extends unknown[]> =
  | { authorize: (...args: A) => boolean }
  | { localOnly: true }
  | undefined;

const digest = (s: string) => createHash("sha256").update(s).digest();

/**
 * With `MARKETMETER_ADMIN_TOKEN`: requests sending `Authorization: Bearer <token>` (compared in constant
 * time). Without it: only this machine in the demo, and not mounted at all against real AWS.
 */
export function usagePageAccess<A extends unknown[]>(
  settings: { adminToken?: string; demo: boolean },
  authorizationOf: (...args: A) => string | undefined,
): UsagePageAccess<A> {
  const { adminToken } = settings;
  if (adminToken) {
    const expected = digest(`Bearer ${adminToken}`);
    return { authorize: (...args) => timingSafeEqual(digest(authorizationOf(...args) ?? ""), expected) };
  }
  return settings.demo ? { localOnly: true } : undefined;
}
