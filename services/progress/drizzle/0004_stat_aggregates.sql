CREATE TABLE "progress"."stat_counts" (
	"tenant_id" text NOT NULL,
	"grain" text NOT NULL,
	"day" date NOT NULL,
	"type" text NOT NULL,
	"flow_version" integer NOT NULL,
	"metric" text NOT NULL,
	"bucket" integer NOT NULL,
	"n" bigint NOT NULL,
	CONSTRAINT "stat_counts_tenant_id_grain_day_type_flow_version_metric_bucket_pk" PRIMARY KEY("tenant_id","grain","day","type","flow_version","metric","bucket")
);
--> statement-breakpoint
CREATE TABLE "progress"."stat_deltas" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"flow_version" integer NOT NULL,
	"day" date NOT NULL,
	"metric" text NOT NULL,
	"bucket" integer NOT NULL,
	"n" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "progress"."stat_meta" (
	"id" integer PRIMARY KEY NOT NULL,
	"backfilled_at" timestamp with time zone
);
--> statement-breakpoint
-- Not backfilled yet: the service fills the analytics from the projections that exist before it consumes events.
INSERT INTO "progress"."stat_meta" ("id", "backfilled_at") VALUES (1, NULL) ON CONFLICT DO NOTHING;
