-- The outbox's table, index and trigger are @glavito/outbox's (outboxMigration), applied after these migrations.
CREATE SCHEMA IF NOT EXISTS "audit";
--> statement-breakpoint
CREATE TABLE "audit"."anchors" (
	"tenant_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL,
	"archive" text NOT NULL,
	"archive_sha256" text NOT NULL,
	"archived_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "anchors_tenant_id_seq_pk" PRIMARY KEY("tenant_id","seq")
);
--> statement-breakpoint
CREATE TABLE "audit"."chain_heads" (
	"tenant_id" text PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit"."records" (
	"tenant_id" text NOT NULL,
	"seq" bigint NOT NULL,
	"id" uuid NOT NULL,
	"occurred_at" timestamp with time zone NOT NULL,
	"recorded_at" timestamp with time zone NOT NULL,
	"actor_subject" text NOT NULL,
	"actor_roles" text[] NOT NULL,
	"action" text NOT NULL,
	"target_type" text NOT NULL,
	"target_id" text,
	"outcome" text NOT NULL,
	"outcome_code" text,
	"request_id" text,
	"correlation_id" text,
	"client_ip" text,
	"user_agent" text,
	"details" jsonb NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	CONSTRAINT "records_tenant_id_seq_pk" PRIMARY KEY("tenant_id","seq")
);
--> statement-breakpoint
CREATE UNIQUE INDEX "records_id" ON "audit"."records" USING btree ("id");--> statement-breakpoint
CREATE INDEX "records_tenant_action" ON "audit"."records" USING btree ("tenant_id","action","seq");--> statement-breakpoint
CREATE INDEX "records_tenant_actor" ON "audit"."records" USING btree ("tenant_id","actor_subject","seq");--> statement-breakpoint
CREATE INDEX "records_tenant_occurred" ON "audit"."records" USING btree ("tenant_id","occurred_at");
