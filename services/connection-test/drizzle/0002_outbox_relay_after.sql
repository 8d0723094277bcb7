ALTER TABLE "connection_test"."outbox" ADD COLUMN "relay_after" timestamp with time zone DEFAULT now() NOT NULL;
--> statement-breakpoint
-- Rows their writer publishes right after commit (relay_after ahead) wake no relay; the others do at once.
CREATE OR REPLACE FUNCTION "connection_test".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE relay_after <= now()) THEN
    PERFORM pg_notify('connection_test_outbox', '');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
DROP TRIGGER IF EXISTS outbox_notify ON "connection_test".outbox;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON "connection_test".outbox REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "connection_test".notify_outbox();
