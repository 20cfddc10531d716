-- mdhost store, SQLite. SQLite has no exact decimal type and no timestamp type, so:
--   decimals are TEXT in canonical form (no trailing zeros), parsed back exactly;
--   instants are INTEGER nanoseconds since 1970-01-01T00:00:00Z (UTC), which covers
--   1677-09-21 to 2262-04-11 and compares and sorts like the instants themselves.

CREATE TABLE bars (
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    start           INTEGER NOT NULL,
    open            TEXT    NOT NULL,
    high            TEXT    NOT NULL,
    low             TEXT    NOT NULL,
    close           TEXT    NOT NULL,
    volume          TEXT,
    vwap            TEXT,
    trades          INTEGER,
    complete        INTEGER NOT NULL,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    PRIMARY KEY (symbol, timeframe, start)
) WITHOUT ROWID;

CREATE TABLE quarantined_bars (
    id              INTEGER PRIMARY KEY,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    start           INTEGER NOT NULL,
    open            TEXT    NOT NULL,
    high            TEXT    NOT NULL,
    low             TEXT    NOT NULL,
    close           TEXT    NOT NULL,
    volume          TEXT,
    vwap            TEXT,
    -- Text: a count beyond 64 bits is one of the things quarantine keeps.
    trades          TEXT,
    complete        INTEGER NOT NULL,
    reasons         TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    received_at     INTEGER NOT NULL
);
CREATE INDEX quarantined_bars_received ON quarantined_bars (received_at DESC);

CREATE TABLE quality_events (
    id              INTEGER PRIMARY KEY,
    kind            TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    start           INTEGER,
    "end"           INTEGER,
    source          TEXT    NOT NULL,
    detail          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX quality_events_series ON quality_events (symbol, timeframe, start);

CREATE TABLE freshness (
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    source          TEXT    NOT NULL,
    asset_class     TEXT    NOT NULL,
    last_bar_start  INTEGER,
    last_success_at INTEGER,
    last_error_at   INTEGER,
    last_error      TEXT,
    PRIMARY KEY (symbol, timeframe, source)
);

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    job             TEXT    NOT NULL,
    provider        TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    status          TEXT    NOT NULL,
    symbols_ok      INTEGER NOT NULL DEFAULT 0,
    symbols_failed  INTEGER NOT NULL DEFAULT 0,
    bars_written    INTEGER NOT NULL DEFAULT 0,
    bars_rejected   INTEGER NOT NULL DEFAULT 0,
    errors          TEXT    NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_job ON runs (job, started_at DESC);

CREATE TABLE checkpoints (
    job             TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    timeframe       TEXT    NOT NULL,
    cursor          TEXT,
    covered_from    INTEGER NOT NULL,
    covered_to      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (job, symbol, timeframe)
);
