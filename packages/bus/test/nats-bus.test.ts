import { createTestNats } from '@glavito/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNatsBus } from '../src/nats-bus.js';
import { describeEventBusContract } from './event-bus.contract.js';

describeEventBusContract('nats', async () => {
  const nats = await createTestNats({ migrate: false });
  const bus = await createNatsBus({ servers: nats.url, name: 'contract' });
  return {
    bus,
    prefix: nats.subjectPrefix,
    stream: nats.streamName,
    async cleanup() {
      await bus.close();
      // nats.cleanup() removes the streams named after streamName; KV buckets live in KV_<bucket> streams.
      const jsm = await jetstreamManager(nats.nc);
      for await (const s of jsm.streams.list()) {
        if (s.config.name.startsWith(`KV_${nats.streamName}`)) await jsm.streams.delete(s.config.name).catch(() => {});
      }
      await nats.cleanup();
    },
  };
});
