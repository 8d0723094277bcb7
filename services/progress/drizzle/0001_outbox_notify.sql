-- Wakes the outbox relays (LISTEN progress_outbox) as soon as an event row commits.
CREATE OR REPLACE FUNCTION "progress".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('progress_outbox', '');
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON "progress".outbox FOR EACH STATEMENT EXECUTE FUNCTION "progress".notify_outbox();
