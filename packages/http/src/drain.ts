import type { FastifyReply, FastifyRequest } from 'fastify';

/** Oversized uploads up to this size are read to the end and discarded; larger ones are cut off. */
export const DRAIN_OVERSIZED_UP_TO_BYTES = 16 * 1024 * 1024;

/**
 * For a 413: Fastify closes the connection while the client is still uploading; the unread bytes make the kernel
 * reset it, and the client (a browser, or the gateway's pool forwarding to a service) sees ECONNRESET/EPIPE
 * instead of the 413. A body of bounded size is read to the end and dropped instead, so the answer arrives and
 * the connection stays usable. A chunked body announces no size: it is dropped as it comes, and cut off once
 * past the bound.
 */
export function keepConnectionThroughOversizedBody(request: FastifyRequest, reply: FastifyReply): void {
  const declared = request.headers['content-length'] === undefined ? 0 : Number(request.headers['content-length']);
  if (!Number.isFinite(declared) || declared > DRAIN_OVERSIZED_UP_TO_BYTES) return;
  reply.removeHeader('connection');
  let dropped = 0;
  request.raw.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_OVERSIZED_UP_TO_BYTES) request.raw.socket.destroy();
  });
  request.raw.resume();
}
