CREATE TABLE "session"."flow_drafts" (
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"definition" jsonb NOT NULL,
	"revision" integer NOT NULL,
	"updated_at" timestamp with time zone NOT NULL,
	"updated_by" text NOT NULL,
	CONSTRAINT "flow_drafts_tenant_id_type_pk" PRIMARY KEY("tenant_id","type")
);
--> statement-breakpoint
CREATE TABLE "session"."flow_versions" (
	"tenant_id" text NOT NULL,
	"type" text NOT NULL,
	"version" integer NOT NULL,
	"definition" jsonb NOT NULL,
	"published_at" timestamp with time zone NOT NULL,
	"published_by" text NOT NULL,
	CONSTRAINT "flow_versions_tenant_id_type_version_pk" PRIMARY KEY("tenant_id","type","version")
);
--> statement-breakpoint
ALTER TABLE "session"."sessions" ADD COLUMN "flow_version" integer DEFAULT 1 NOT NULL;