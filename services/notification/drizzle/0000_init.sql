-- The outbox's table, index and trigger are @glavito/outbox's (outboxMigration), applied after these migrations.
CREATE SCHEMA IF NOT EXISTS "notification";
--> statement-breakpoint
CREATE TABLE "notification"."deliveries" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"reminder_id" uuid NOT NULL,
	"attempt" integer NOT NULL,
	"outcome" text NOT NULL,
	"smtp_code" integer,
	"detail" text,
	"at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."event_seqs" (
	"session_id" text PRIMARY KEY NOT NULL,
	"seq" integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."inbox" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."notifications" (
	"id" uuid PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"session_id" text NOT NULL,
	"session_type" text NOT NULL,
	"kind" text NOT NULL,
	"title" text NOT NULL,
	"body" text NOT NULL,
	"link" text,
	"steps_left" text[],
	"dedupe_key" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"read_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "notification"."policies" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"policy" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"updated_by" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."recipients" (
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"email" text,
	"language" text DEFAULT 'en' NOT NULL,
	"unsubscribed_at" timestamp with time zone,
	"preferences" jsonb,
	"is_admin" boolean DEFAULT false NOT NULL,
	CONSTRAINT "recipients_tenant_id_user_id_pk" PRIMARY KEY("tenant_id","user_id")
);
--> statement-breakpoint
CREATE TABLE "notification"."reminders" (
	"id" uuid PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"ordinal" integer NOT NULL,
	"activity_at" timestamp with time zone NOT NULL,
	"base_at" timestamp with time zone NOT NULL,
	"due_at" timestamp with time zone NOT NULL,
	"state" text NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"lease_until" timestamp with time zone,
	"claimed_by" text,
	"message_id" text,
	"email_to" text,
	"content" jsonb,
	"email_status" text,
	"sent_at" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."sessions" (
	"session_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"completed_steps" text[] NOT NULL,
	"skipped_steps" text[] NOT NULL,
	"current_step" text,
	"last_activity_at" timestamp with time zone NOT NULL,
	"last_seq" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "notification"."tenants" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"business_hours" jsonb,
	"business_hours_version" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX "deliveries_reminder" ON "notification"."deliveries" USING btree ("reminder_id");--> statement-breakpoint
CREATE UNIQUE INDEX "notifications_dedupe" ON "notification"."notifications" USING btree ("dedupe_key");--> statement-breakpoint
CREATE INDEX "notifications_user_newest" ON "notification"."notifications" USING btree ("tenant_id","user_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "notifications_user_unread" ON "notification"."notifications" USING btree ("tenant_id","user_id") WHERE read_at IS NULL;--> statement-breakpoint
CREATE INDEX "recipients_admins" ON "notification"."recipients" USING btree ("tenant_id") WHERE is_admin;--> statement-breakpoint
CREATE UNIQUE INDEX "reminders_once" ON "notification"."reminders" USING btree ("session_id","activity_at","ordinal");--> statement-breakpoint
CREATE INDEX "reminders_due" ON "notification"."reminders" USING btree ("due_at") WHERE state IN ('scheduled', 'sending');--> statement-breakpoint
CREATE INDEX "reminders_session_open" ON "notification"."reminders" USING btree ("session_id") WHERE state = 'scheduled';--> statement-breakpoint
CREATE INDEX "sessions_tenant" ON "notification"."sessions" USING btree ("tenant_id");
