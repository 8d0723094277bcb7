export { fakeSessionService, FAKE_SESSION_RPCS, type FakeSessionRpc, type FakeSessionService } from './session-service.js';
export { fakeSessionEvent } from './session-events.js';
export { realtimeTestEnv } from './realtime-env.js';
