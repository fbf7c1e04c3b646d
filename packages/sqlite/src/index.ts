// Public API of @marketmeter/sqlite.

export { type SqliteDirectoryStoreOptions, sqliteDirectoryStore } from "./directory.js";
export type { SqliteStoreOptions } from "./store.js";
export { sqliteStore } from "./store.js";
