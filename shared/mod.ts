/**
 * @module
 * What every SecurePay program shares: configuration, logging, errors and
 * their status tables, PostgreSQL and migrations, gRPC plumbing, the admin
 * server, metrics and shutdown. Generated protobuf code lives in `gen/`.
 */

export * from "./admin.ts";
export * from "./auth.ts";
export * from "./config.ts";
export * from "./db.ts";
export * from "./errors.ts";
export * from "./grpc.ts";
export * from "./ids.ts";
export * from "./log.ts";
export * from "./metrics.ts";
export * from "./migrate.ts";
export * from "./money.ts";
export * from "./shutdown.ts";
export * from "./events.ts";
export * from "./redis.ts";
