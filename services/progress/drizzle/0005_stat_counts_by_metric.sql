CREATE INDEX "stat_counts_by_metric" ON "progress"."stat_counts" USING btree ("tenant_id","grain","metric","day");--> statement-breakpoint
-- Every row of stat_deltas is deleted within seconds of its insert, and reads scan the table: vacuum it after
-- a few thousand dead rows rather than after a fifth of the table.
ALTER TABLE "progress"."stat_deltas" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000, autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
