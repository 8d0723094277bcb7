-- Wakes the outbox relays (LISTEN session_outbox) as soon as an event row commits.
CREATE OR REPLACE FUNCTION "session".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('session_outbox', '');
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON "session".outbox FOR EACH STATEMENT EXECUTE FUNCTION "session".notify_outbox();
