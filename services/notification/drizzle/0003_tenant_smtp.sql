CREATE TABLE "notification"."email_channels" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"session_id" text,
	"test_status" text,
	"tested_at" timestamp with time zone,
	"test_event_id" uuid,
	"smtp_host" text,
	"smtp_port" integer,
	"encryption" text,
	"changed_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "notification"."deliveries" ADD COLUMN "sender" text;