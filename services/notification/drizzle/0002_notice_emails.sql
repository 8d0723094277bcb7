CREATE TABLE "notification"."notice_emails" (
	"id" uuid PRIMARY KEY NOT NULL,
	"notification_id" uuid NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"email_to" text NOT NULL,
	"message_id" text NOT NULL,
	"content" jsonb NOT NULL,
	"state" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_until" timestamp with time zone,
	"email_status" text,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "notice_emails_once" ON "notification"."notice_emails" USING btree ("notification_id");--> statement-breakpoint
CREATE INDEX "notice_emails_open" ON "notification"."notice_emails" USING btree ("created_at") WHERE state IN ('pending', 'sending');