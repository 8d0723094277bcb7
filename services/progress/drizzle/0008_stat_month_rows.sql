-- From this month on, month rows are written when a month closes (rolled up from its day rows) instead of with every
-- event; days before keep theirs. This month's month rows, written so far, are no longer read and are rebuilt at its roll-up.
ALTER TABLE "progress"."stat_meta" ADD COLUMN "month_rows_until" date DEFAULT date_trunc('month', now() AT TIME ZONE 'UTC')::date NOT NULL;
