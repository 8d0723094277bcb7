-- What outside systems said about a session's steps (Stripe account state, verified channels): per step and source.
ALTER TABLE "session"."sessions" ADD COLUMN "signals" jsonb DEFAULT '{}'::jsonb NOT NULL;
