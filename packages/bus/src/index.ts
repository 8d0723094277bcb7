export { connectBus, ensureStream, ensureDurableConsumer, isNotFound, type Bus, type StreamSpec, type DurableSpec, type BusLogger } from './nats.js';
export { publishEvent } from './publish.js';
export { buildEnvelope, newEventId, type EnvelopeInput } from './envelope.js';
export { runConsumer, PoisonMessageError, RetryLaterError, type ConsumerOptions, type ConsumerHandle, type UnknownEvent } from './consumer.js';
export { serveRpc, callRpc, RpcError } from './rpc.js';
export { createNatsBus } from './nats-bus.js';
export {
  BusRequestError,
  subjectMatches,
  type EventBus,
  type DeliveredMessage,
  type StoredMessage,
  type StreamConfig,
  type DurableConfig,
  type KeyValueStore,
  type Stoppable,
} from './event-bus.js';
export { buildAuditEvent, createEdgeAuditor, type AuditInput, type EdgeAuditor, type EdgeAuditorOptions } from './audit.js';
export { BrokerStateError, checkEventStreams, requireBucket, migrateEventBus } from './broker-check.js';
