-- Economic observations and instrument listings that failed the host's rules, kept as
-- the plugin sent them with every reason: one row per source, kind, key and reason codes,
-- counting repeats in `seen` (as quarantined bars and actions are).
CREATE TABLE quarantined_records (
    id              INTEGER     PRIMARY KEY,
    -- 'observation' or 'instrument'.
    kind            TEXT        NOT NULL,
    -- What the record is about: "<series id> <date> <realtime start or ->" for an
    -- observation, the provider's symbol for an instrument.
    key             TEXT        NOT NULL,
    -- The record as the plugin sent it (JSON, values as text).
    raw             TEXT        NOT NULL,
    -- JSON array of {"code", "detail"}, and the codes comma-separated for the key.
    reasons         TEXT        NOT NULL,
    reason_codes    TEXT        NOT NULL,
    seen            INTEGER     NOT NULL DEFAULT 1,
    source          TEXT        NOT NULL,
    plugin_version  TEXT        NOT NULL,
    received_at     INTEGER     NOT NULL
);
CREATE UNIQUE INDEX quarantined_records_key
    ON quarantined_records (source, kind, key, reason_codes);
CREATE INDEX quarantined_records_received ON quarantined_records (received_at DESC);
