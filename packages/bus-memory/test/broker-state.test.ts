import { brokerState, streamMismatches } from '@glavito/broker';
import { migrateEventBus } from '@glavito/bus';
import { createTestNats } from '@glavito/testkit';
import { expect, it } from 'vitest';
import { createMemoryBus } from '../src/memory-bus.js';

it('builds the broker state a deploy migrates on the in-process bus (embedded mode)', async () => {
  const nats = await createTestNats({ migrate: false });
  const memory = createMemoryBus();
  try {
    const state = brokerState(nats.brokerSettings);
    await migrateEventBus(memory, state);
    for (const def of state.streams) expect(streamMismatches(def, await memory.streamInfo(def.name))).toEqual([]);
    for (const b of state.buckets) expect(await memory.bucketInfo(b.bucket)).toEqual({ ttlMs: b.ttlMs, replicas: 1 });
  } finally {
    await memory.close();
    await nats.cleanup();
  }
});
