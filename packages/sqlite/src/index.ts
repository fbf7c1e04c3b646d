// Public API of @marketmeter/sqlite.
export { sqliteStore } from "./store.js";
export type { SqliteStoreOptions } from "./store.js";
export { sqliteDirectoryStore, type SqliteDirectoryStoreOptions } from "./directory.js";
