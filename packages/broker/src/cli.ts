#!/usr/bin/env node
/**
 * `pnpm bus:migrate`: applies the broker state (streams, dead-letter streams, KV buckets, one-time durable
 * upgrades) to the NATS server(s) in NATS_URL, with the settings of `brokerEnvShape` from the environment.
 * `--print` prints the stream configurations it would apply (JSON, as JetStream takes them) and exits.
 */
import { connect } from '@nats-io/transport-node';
import { jetStreamConfig, migrateBroker } from './nats.js';
import { brokerState, loadBrokerSettings } from './state.js';

const settings = loadBrokerSettings(process.env);
const state = brokerState(settings);

if (process.argv.includes('--print')) {
  console.log(JSON.stringify({ streams: state.streams.map(jetStreamConfig), buckets: state.buckets, seeds: state.seeds }, null, 2));
  process.exit(0);
}

const servers = process.env.NATS_URL;
if (!servers) {
  console.error('bus:migrate: NATS_URL is required (e.g. nats://127.0.0.1:4222)');
  process.exit(1);
}
try {
  const nc = await connect({ servers: servers.split(',').map((s) => s.trim()), name: 'bus-migrate', timeout: 5000 });
  await migrateBroker(nc, state, { info: (msg) => console.log(`bus:migrate: ${msg}`) });
  await nc.drain();
} catch (err) {
  console.error(`bus:migrate failed against ${servers}: ${(err as Error).message}`);
  process.exit(1);
}
