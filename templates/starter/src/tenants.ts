// Your own accounts: tenants and their API keys, in one SQLite table. Only a SHA-256 of each key is
// stored, so a copy of the database does not let anyone call the API; a key is shown once, at sign-up.
import { createHash, randomBytes, randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

export interface Tenant {
  id: string;
  name: string;
  email: string;
  createdAt: number;
}

export interface Tenants {
  /** Creates a tenant with a new API key (returned once, never stored in clear). */
  create(input: { name: string; email: string }): { tenant: Tenant; apiKey: string };
  /** Replaces a tenant's API key (a returning buyer who signs up again gets a fresh one). */
  rotateKey(tenantId: string): string;
  /** The tenant an API key belongs to, if any. */
  byApiKey(apiKey: string): Tenant | undefined;
  get(tenantId: string): Tenant | undefined;
  /** Deletes a tenant (used when linking it to the AWS buyer failed). */
  remove(tenantId: string): void;
  close(): void;
}

const KEY = /^mm_[A-Za-z0-9_-]{32}$/;
const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

const hash = (apiKey: string) => createHash("sha256").update(apiKey).digest("hex");
const newKey = () => `mm_${randomBytes(24).toString("base64url")}`;

/** Validates the sign-up form; returns the clean values or an error message for the page. */
export function parseSignup(name: unknown, email: unknown): { name: string; email: string } | string {
  const n = typeof name === "string" ? name.trim() : "";
  const e = typeof email === "string" ? email.trim().toLowerCase() : "";
  if (n.length < 1 || n.length > 100) return "Please enter a name (up to 100 characters).";
  if (e.length > 254 || !EMAIL.test(e)) return "Please enter a valid email address.";
  return { name: n, email: e };
}

/** Opens (and creates on first use) the tenants table in the SQLite file at `path`. */
export function openTenants(path: string): Tenants {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.exec(`CREATE TABLE IF NOT EXISTS tenants (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    api_key_sha256 TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
  )`);
  const insert = db.prepare(
    "INSERT INTO tenants (id, name, email, api_key_sha256, created_at) VALUES (?, ?, ?, ?, ?)",
  );
  const setKey = db.prepare("UPDATE tenants SET api_key_sha256 = ? WHERE id = ?");
  const select = "SELECT id, name, email, created_at AS createdAt FROM tenants";
  const byKey = db.prepare<[string], Tenant>(`${select} WHERE api_key_sha256 = ?`);
  const byId = db.prepare<[string], Tenant>(`${select} WHERE id = ?`);
  const del = db.prepare("DELETE FROM tenants WHERE id = ?");
  return {
    create({ name, email }) {
      const tenant: Tenant = { id: `t_${randomUUID()}`, name, email, createdAt: Date.now() };
      const apiKey = newKey();
      insert.run(tenant.id, name, email, hash(apiKey), tenant.createdAt);
      return { tenant, apiKey };
    },
    rotateKey(tenantId) {
      const apiKey = newKey();
      if (setKey.run(hash(apiKey), tenantId).changes !== 1) throw new Error(`no tenant ${tenantId}`);
      return apiKey;
    },
    // The lookup is by hash, so the key itself is never compared or kept in memory longer than needed.
    byApiKey: (apiKey) => (KEY.test(apiKey) ? byKey.get(hash(apiKey)) : undefined),
    get: (tenantId) => byId.get(tenantId),
    remove: (tenantId) => void del.run(tenantId),
    close: () => db.close(),
  };
}
