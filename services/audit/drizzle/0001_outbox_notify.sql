-- Wakes the outbox relays (LISTEN audit_outbox) for rows that are theirs at once; rows their writer publishes itself wake nobody.
CREATE OR REPLACE FUNCTION "audit".notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM new_rows WHERE relay_after <= now()) THEN
    PERFORM pg_notify('audit_outbox', '');
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE OR REPLACE TRIGGER outbox_notify AFTER INSERT ON "audit".outbox REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION "audit".notify_outbox();
