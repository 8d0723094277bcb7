export { outboxTable } from './table.js';
export { outboxMigration, outboxNotifyChannel } from './migration.js';
export {
  enqueue,
  outboxArrays,
  outboxInsertSql,
  toAuditOutboxRow,
  toOutboxRow,
  writeAuditEvent,
  type OutboxInsertOptions,
  type OutboxRow,
  type PublishedBy,
} from './enqueue.js';
export { startOutboxRelay, type OutboxRelay, type OutboxRelayOptions } from './relay.js';
