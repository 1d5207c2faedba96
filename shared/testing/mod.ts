/** @module Test helpers shared by every service's tests. */
export * from "./postgres.ts";
export * from "./process.ts";
export { startTestBroker, type TestBroker } from "./kafka.ts";
export * from "./wait.ts";
