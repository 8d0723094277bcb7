ALTER TABLE "session"."business_hours" ALTER COLUMN "config" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "session"."business_hours" ADD COLUMN "version" integer DEFAULT 0 NOT NULL;