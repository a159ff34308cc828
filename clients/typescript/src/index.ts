// @backup-worker/client: the api-gateway's typed side of backup-worker's contract (docs/contract.md).
export * from "./client.js";
export * from "./errors.js";
export { DEFAULT_QUEUE, RedisPublisher, type Publisher, type RedisPublisherOptions } from "./broker.js";
export type { BackupFilter, JobFilter, Queryable } from "./db.js";
export type { Json } from "./protocol.js";
export * from "./tasks.js";
export type * from "./generated/contract.js";
export { BACKUP_COLUMNS, JOB_COLUMNS } from "./generated/contract.js";
