/**
 * @module
 * The transactional outbox relay every service with events runs, and the
 * SQL its schema needs (`outboxTableSql`, `outboxNotifySql`).
 */

export * from "./relay.ts";
