// Public API of @marketmeter/postgres.
export { postgresStore } from "./store.js";
export type { PostgresStore, PostgresStoreOptions } from "./store.js";
export { postgresDirectoryStore } from "./directory.js";
export type { PostgresDirectoryStore, PostgresDirectoryStoreOptions } from "./directory.js";
export { postgresMigrations } from "./migrations.js";
export type { PostgresMigration } from "./migrations.js";
export type { PgClientLike, PgPoolLike, PgQueryResult, PostgresConnectionOptions } from "./connection.js";
