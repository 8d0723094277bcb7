export {
  auditNames,
  brokerEnvShape,
  BrokerSettingsSchema,
  brokerState,
  bucketStreamName,
  eventStreams,
  loadBrokerSettings,
  type BrokerSettings,
  type BrokerState,
  type BucketDefinition,
  type DurableSeed,
  type StreamDefinition,
} from './state.js';
export { jetStreamConfig, migrateBroker, type BrokerLogger, type MigrationStep } from './nats.js';
export { mismatchMessage, streamMismatches, type ObservedStream } from './check.js';
