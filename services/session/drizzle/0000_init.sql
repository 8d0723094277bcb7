-- The outbox's table, index and trigger are @glavito/outbox's (outboxMigration), applied after these migrations.
CREATE SCHEMA IF NOT EXISTS "session";
--> statement-breakpoint
CREATE TABLE "session"."business_hours" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"config" jsonb NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"updated_by" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "session"."sessions" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"type" text NOT NULL,
	"role" text NOT NULL,
	"status" text NOT NULL,
	"current_step" text,
	"completed_steps" text[] DEFAULT '{}'::text[] NOT NULL,
	"skipped_steps" text[] DEFAULT '{}'::text[] NOT NULL,
	"step_data" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"event_seq" integer DEFAULT 0 NOT NULL,
	"started_at" timestamp with time zone NOT NULL,
	"last_activity_at" timestamp with time zone NOT NULL,
	"completed_at" timestamp with time zone,
	"estimated_completion" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "session"."tenant_onboarding" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"setup_completed_at" timestamp with time zone NOT NULL,
	"setup_completed_by" text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_one_open_per_user_type" ON "session"."sessions" USING btree ("tenant_id","user_id","type") WHERE status <> 'completed';--> statement-breakpoint
CREATE INDEX "sessions_tenant_user" ON "session"."sessions" USING btree ("tenant_id","user_id","started_at");--> statement-breakpoint
CREATE INDEX "sessions_inactive" ON "session"."sessions" USING btree ("last_activity_at") WHERE status IN ('active', 'paused');
