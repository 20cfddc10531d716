-- The transactional outbox of `[publish]`: every row written to bars, splits, dividends,
-- observations and quality_events is copied here by a trigger, in the statement (so the
-- transaction) that wrote it, for the relay to publish to NATS JetStream and mark. A row
-- commits with its outbox entry or not at all, whichever path wrote it (a run, a stream,
-- a spooled batch replayed, a CLI ingest).
--
-- The triggers themselves are installed by a host started with `[publish]` and dropped by
-- one started without it (`outbox_triggers(bool)` below): a store nobody publishes from
-- keeps no outbox and pays nothing on its writes. The entry holds the row as JSONB, whose
-- numbers are NUMERIC, so a decimal reaches the relay exactly as stored.
CREATE TABLE outbox (
    seq             BIGSERIAL   PRIMARY KEY,
    -- bar, split, dividend, observation, quality
    kind            TEXT        NOT NULL,
    row_data        JSONB       NOT NULL,
    -- The job run whose write this was (the transaction's `mdhost.run` setting), if any.
    run_id          BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    published_at    TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE published_at IS NULL;

-- Copies a statement's new rows (its transition table) into the outbox, one INSERT per
-- statement however many rows it wrote. TG_ARGV[0] is the kind.
CREATE FUNCTION outbox_capture() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox (kind, row_data, run_id)
    SELECT TG_ARGV[0], to_jsonb(n), NULLIF(current_setting('mdhost.run', true), '')::bigint
    FROM outbox_new_rows n;
    RETURN NULL;
END
$$;

-- Installs (`on`) or drops the triggers. An INSERT … ON CONFLICT DO UPDATE fires both:
-- its inserted rows reach the INSERT trigger, its updated ones the UPDATE trigger.
CREATE FUNCTION outbox_triggers(on_ boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('bars', 'bar'), ('splits', 'split'),
                                   ('dividends', 'dividend'), ('observations', 'observation'),
                                   ('quality_events', 'quality')) AS v(tbl, kind)
    LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t.tbl || '_outbox_ins', t.tbl);
        EXECUTE format('DROP TRIGGER IF EXISTS %I ON %I', t.tbl || '_outbox_upd', t.tbl);
        IF on_ THEN
            EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS '
                           'outbox_new_rows FOR EACH STATEMENT EXECUTE FUNCTION '
                           'outbox_capture(%L)', t.tbl || '_outbox_ins', t.tbl, t.kind);
            EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I REFERENCING NEW TABLE AS '
                           'outbox_new_rows FOR EACH STATEMENT EXECUTE FUNCTION '
                           'outbox_capture(%L)', t.tbl || '_outbox_upd', t.tbl, t.kind);
        END IF;
    END LOOP;
END
$$;
