-- The outbox's table, index and trigger are @glavito/outbox's (outboxMigration), applied after these migrations.
CREATE SCHEMA IF NOT EXISTS "progress";
--> statement-breakpoint
CREATE TABLE "progress"."inbox" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "progress"."milestones" (
	"session_id" text NOT NULL,
	"threshold" integer NOT NULL,
	"tenant_id" text NOT NULL,
	"title" text NOT NULL,
	"reached_at" timestamp with time zone NOT NULL,
	CONSTRAINT "milestones_session_id_threshold_pk" PRIMARY KEY("session_id","threshold")
);
--> statement-breakpoint
CREATE TABLE "progress"."pending_events" (
	"session_id" text NOT NULL,
	"session_seq" integer NOT NULL,
	"event" jsonb NOT NULL,
	"received_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "pending_events_session_id_session_seq_pk" PRIMARY KEY("session_id","session_seq")
);
--> statement-breakpoint
CREATE TABLE "progress"."projections" (
	"session_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"completed_steps" text[] DEFAULT '{}'::text[] NOT NULL,
	"skipped_steps" text[] DEFAULT '{}'::text[] NOT NULL,
	"current_step" text,
	"progress_percentage" integer DEFAULT 0 NOT NULL,
	"estimated_time_remaining" integer DEFAULT 0 NOT NULL,
	"estimated_completion" timestamp with time zone,
	"started_at" timestamp with time zone,
	"last_event_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"applied_seq" integer DEFAULT 0 NOT NULL,
	"out_seq" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "progress"."step_timings" (
	"session_id" text NOT NULL,
	"step_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"reached_at" timestamp with time zone,
	"completed_at" timestamp with time zone,
	"skipped_at" timestamp with time zone,
	CONSTRAINT "step_timings_session_id_step_id_pk" PRIMARY KEY("session_id","step_id")
);
--> statement-breakpoint
CREATE INDEX "milestones_tenant" ON "progress"."milestones" USING btree ("tenant_id","threshold");--> statement-breakpoint
CREATE INDEX "projections_tenant_started" ON "progress"."projections" USING btree ("tenant_id","started_at");--> statement-breakpoint
CREATE INDEX "projections_tenant_status" ON "progress"."projections" USING btree ("tenant_id","status");--> statement-breakpoint
CREATE INDEX "step_timings_tenant" ON "progress"."step_timings" USING btree ("tenant_id","step_id");
