-- `bars` becomes a table partitioned by month of `start` (issue 23: storage that grows).
-- A month is one partition, `bars_pYYYY_MM`, created on the first write into it and ahead
-- of time by the host's hourly maintenance; retention drops a whole month once every
-- timeframe in it has expired instead of deleting its rows one by one.
--
-- An existing table is not copied: it is attached whole, as the partition of everything
-- before the month after its newest bar (`bars_unpartitioned`). That costs one scan to
-- check the bound and one to build the BRIN index, not a rewrite; its rows are read and
-- retained exactly as before. docs/scaling.md says how to split it later if wanted.

-- The outbox's triggers (0012) belong on the parent; the host puts them back at start.
DROP TRIGGER IF EXISTS bars_outbox_ins ON bars;
DROP TRIGGER IF EXISTS bars_outbox_upd ON bars;

ALTER TABLE bars RENAME TO bars_unpartitioned;
ALTER INDEX bars_pkey RENAME TO bars_unpartitioned_pkey;

-- LIKE keeps the columns in their order, which `SELECT *` in the write path relies on.
CREATE TABLE bars (LIKE bars_unpartitioned INCLUDING DEFAULTS INCLUDING CONSTRAINTS)
    PARTITION BY RANGE (start);
ALTER TABLE bars ADD PRIMARY KEY (symbol, timeframe, start);
-- Time-range scans across every series (retention, "what arrived this hour") read a
-- few BRIN pages per partition instead of the whole primary key.
CREATE INDEX bars_start_brin ON bars USING brin (start);

-- Creates the partition of the month that holds `month` unless one covers it already.
-- Writers call it for each month a batch touches before they write (store::partitions),
-- so several hosts may race for the same month: the advisory lock makes them take turns
-- and the loser finds the table there. A month inside `bars_unpartitioned` overlaps it
-- and is covered. Returns the partition created, or NULL.
CREATE FUNCTION mdhost_bar_partition(month timestamptz) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    -- In UTC wall time throughout: timestamptz + '1 month' would step in the session's
    -- time zone.
    lo timestamp := date_trunc('month', month AT TIME ZONE 'UTC');
    hi timestamp := lo + interval '1 month';
    name text := 'bars_p' || to_char(lo, 'YYYY_MM');
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('mdhost_bar_partition'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN NULL;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE %I PARTITION OF bars FOR VALUES FROM (%L) TO (%L)',
                       name, to_char(lo, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                       to_char(hi, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
    EXCEPTION WHEN invalid_object_definition THEN
        -- "would overlap partition": the attached old table covers this month.
        RETURN NULL;
    END;
    RETURN name;
END
$$;

DO $$
DECLARE
    newest timestamptz;
    bound text;
BEGIN
    SELECT max(start) INTO newest FROM bars_unpartitioned;
    IF newest IS NULL THEN
        DROP TABLE bars_unpartitioned;
        RETURN;
    END IF;
    bound := to_char(date_trunc('month', newest AT TIME ZONE 'UTC') + interval '1 month',
                     'YYYY-MM-DD"T"HH24:MI:SS"Z"');
    EXECUTE format('ALTER TABLE bars ATTACH PARTITION bars_unpartitioned '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', bound);
END
$$;
