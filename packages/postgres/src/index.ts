// Public API of @marketmeter/postgres.

export type { PgClientLike, PgPoolLike, PgQueryResult, PostgresConnectionOptions } from "./connection.js";
export type { PostgresDirectoryStore, PostgresDirectoryStoreOptions } from "./directory.js";
export { postgresDirectoryStore } from "./directory.js";
export type { PostgresMigration } from "./migrations.js";
export { postgresMigrations } from "./migrations.js";
export type { PostgresStore, PostgresStoreOptions } from "./store.js";
export { postgresStore } from "./store.js";
