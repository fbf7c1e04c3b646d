// Public API of @marketmeter/redis.

export type { RedisClientLike, RedisConnectionOptions } from "./connection.js";
export type { RedisDirectoryStore, RedisDirectoryStoreOptions } from "./directory.js";
export { redisDirectoryStore } from "./directory.js";
export type { RedisStore, RedisStoreOptions } from "./store.js";
export { redisStore } from "./store.js";
