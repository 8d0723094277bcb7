import { serviceTestEnv, type TestNats } from '@glavito/testkit';

/**
 * The variables the realtime service reads, pointed at one test file's broker names: the shared service env
 * (the realtime service has no database) plus its presence bucket. Used in-process and for a spawned service.
 */
export function realtimeTestEnv(nats: TestNats): Record<string, string> {
  const { DATABASE_URL: _none, ...env } = serviceTestEnv({ url: '' }, nats);
  return { ...env, PRESENCE_BUCKET: nats.presenceBucket };
}
