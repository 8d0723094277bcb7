CREATE TABLE "progress"."flow_versions" (
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"version" integer NOT NULL,
	"steps" jsonb NOT NULL,
	"published_at" timestamp with time zone NOT NULL,
	CONSTRAINT "flow_versions_tenant_id_type_version_pk" PRIMARY KEY("tenant_id","type","version")
);
--> statement-breakpoint
ALTER TABLE "progress"."projections" ADD COLUMN "flow_version" integer DEFAULT 1 NOT NULL;