CREATE TABLE "progress"."stat_delta_sets" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"types" text[] NOT NULL,
	"flow_versions" integer[] NOT NULL,
	"days" date[] NOT NULL,
	"metrics" text[] NOT NULL,
	"buckets" integer[] NOT NULL,
	"ns" bigint[] NOT NULL
);
--> statement-breakpoint
-- Deltas written before this release, not folded yet: one set each (stat_deltas stays, empty, until a later drop).
WITH moved AS (DELETE FROM "progress"."stat_deltas" RETURNING *)
INSERT INTO "progress"."stat_delta_sets" ("tenant_id", "types", "flow_versions", "days", "metrics", "buckets", "ns")
SELECT tenant_id, ARRAY[type], ARRAY[flow_version], ARRAY[day], ARRAY[metric], ARRAY[bucket], ARRAY[n] FROM moved;
--> statement-breakpoint
ALTER TABLE "progress"."stat_delta_sets" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);
