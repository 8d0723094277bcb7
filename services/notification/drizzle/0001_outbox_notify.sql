CREATE OR REPLACE FUNCTION "notification".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE relay_after <= now()) THEN
    PERFORM pg_notify('notification_outbox', '');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
DROP TRIGGER IF EXISTS outbox_notify ON "notification".outbox;
--> statement-breakpoint
CREATE TRIGGER outbox_notify AFTER INSERT ON "notification".outbox REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "notification".notify_outbox();
