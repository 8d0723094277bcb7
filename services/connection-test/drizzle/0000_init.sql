-- The outbox's table, index and trigger are @glavito/outbox's (outboxMigration), applied after these migrations.
CREATE SCHEMA IF NOT EXISTS "connection_test";
--> statement-breakpoint
CREATE TABLE "connection_test"."known_sessions" (
	"session_id" text PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"status" text NOT NULL,
	"last_seq" integer DEFAULT 0 NOT NULL,
	"out_seq" integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE TABLE "connection_test"."rate_limit_counters" (
	"key" text NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"count" integer NOT NULL,
	CONSTRAINT "rate_limit_counters_key_window_start_pk" PRIMARY KEY("key","window_start")
);
--> statement-breakpoint
CREATE TABLE "connection_test"."test_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"tenant_id" text NOT NULL,
	"user_id" text NOT NULL,
	"channel" text NOT NULL,
	"status" text NOT NULL,
	"error_code" text,
	"message" text NOT NULL,
	"hint" text,
	"checks" jsonb NOT NULL,
	"details" jsonb NOT NULL,
	"config_summary" jsonb NOT NULL,
	"response_time_ms" integer NOT NULL,
	"created_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
CREATE INDEX "known_sessions_tenant" ON "connection_test"."known_sessions" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "test_runs_session_newest" ON "connection_test"."test_runs" USING btree ("session_id","created_at" DESC NULLS LAST,"id" DESC NULLS LAST);
