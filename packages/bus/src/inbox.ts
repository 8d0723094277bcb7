import type pg from 'pg';

/**
 * Records an event id in the consumer's inbox table (`<schema>.inbox(event_id uuid primary key,
 * processed_at timestamptz)`) inside the handler's transaction. Returns false when it was already
 * processed, so the handler skips it and the redelivery is simply acked.
 */
export async function claimInbox(client: pg.PoolClient, schema: string, eventId: string): Promise<boolean> {
  const r = await client.query(`INSERT INTO "${schema}".inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING`, [eventId]);
  return r.rowCount === 1;
}
