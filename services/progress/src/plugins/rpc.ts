import { serveRpc } from '@glavito/bus';
import { ProgressGetReplySchema, ProgressGetRequestSchema, rpcSubject } from '@glavito/contracts';
import fp from 'fastify-plugin';

/** `progress.get` over NATS request/reply (the realtime service's get_progress). */
export const progressRpcPlugin = fp<{ rpcPrefix: string }>(
  async (app, opts) => {
    const sub = serveRpc({
      bus: app.bus,
      subject: rpcSubject(opts.rpcPrefix, 'progress.get'),
      queue: 'progress',
      request: ProgressGetRequestSchema,
      reply: ProgressGetReplySchema,
      logger: app.log,
      handler: async ({ sessionId, caller }) => {
        const progress = await app.readProgress(sessionId, caller);
        return progress ? { found: true as const, progress } : { found: false as const };
      },
    });
    app.addHook('onClose', async () => sub.stop());
  },
  { name: 'progress-rpc', dependencies: ['progress-reader'] },
);
