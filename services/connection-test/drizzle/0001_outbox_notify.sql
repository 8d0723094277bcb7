-- Wakes the outbox relays (LISTEN connection_test_outbox) as soon as an event row commits.
CREATE OR REPLACE FUNCTION "connection_test".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('connection_test_outbox', '');
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON "connection_test".outbox FOR EACH STATEMENT EXECUTE FUNCTION "connection_test".notify_outbox();
