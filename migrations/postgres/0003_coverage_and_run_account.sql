-- What a job has fetched and committed, per series, as disjoint ranges `[covered_from,
-- covered_to)`. A range is added in the transaction that commits the last page of a
-- window and merged with the ranges it touches, so coverage never runs ahead of the data
-- and a window whose fetch or write failed stays a hole that the next run fills.
--
-- The old `checkpoints.covered_*` columns said "covered from the range start" as soon as
-- a later window succeeded, even across a failed one; they are not carried over. From now
-- on `checkpoints` only says where a window in progress resumes: one row per window
-- (`covered_from`, `covered_to`) with its cursor, deleted when the window's last page
-- commits, so a later window never overwrites the place an earlier one stopped at.
DELETE FROM checkpoints WHERE cursor IS NULL;
ALTER TABLE checkpoints DROP CONSTRAINT checkpoints_pkey;
ALTER TABLE checkpoints ADD PRIMARY KEY (job, symbol, timeframe, covered_from);
CREATE TABLE coverage (
    job             TEXT        NOT NULL,
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    covered_from    TIMESTAMPTZ NOT NULL,
    covered_to      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, symbol, timeframe, covered_from)
);

-- An honest account of each run: why it ended as it did, what it fetched, and which
-- windows it left uncovered (JSON array of {"symbol", "from", "to"}).
ALTER TABLE runs ADD COLUMN reason TEXT;
ALTER TABLE runs ADD COLUMN bars_fetched BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN bars_skipped BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN uncovered TEXT NOT NULL DEFAULT '[]';
