-- mdhost store, Postgres: exact NUMERIC prices and volumes, TIMESTAMPTZ instants.

CREATE TABLE bars (
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    start           TIMESTAMPTZ NOT NULL,
    open            NUMERIC     NOT NULL,
    high            NUMERIC     NOT NULL,
    low             NUMERIC     NOT NULL,
    close           NUMERIC     NOT NULL,
    volume          NUMERIC,
    vwap            NUMERIC,
    trades          BIGINT,
    complete        BOOLEAN     NOT NULL,
    source          TEXT        NOT NULL,
    plugin_version  TEXT        NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, timeframe, start)
);

CREATE TABLE quarantined_bars (
    id              BIGSERIAL   PRIMARY KEY,
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    start           TIMESTAMPTZ NOT NULL,
    -- Raw text as the plugin sent it: a malformed value must survive to be inspected.
    open            TEXT        NOT NULL,
    high            TEXT        NOT NULL,
    low             TEXT        NOT NULL,
    close           TEXT        NOT NULL,
    volume          TEXT,
    vwap            TEXT,
    trades          NUMERIC,
    complete        BOOLEAN     NOT NULL,
    -- JSON array of {"code", "detail"}.
    reasons         TEXT        NOT NULL,
    source          TEXT        NOT NULL,
    plugin_version  TEXT        NOT NULL,
    received_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX quarantined_bars_received ON quarantined_bars (received_at DESC);

CREATE TABLE quality_events (
    id              BIGSERIAL   PRIMARY KEY,
    kind            TEXT        NOT NULL,
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    start           TIMESTAMPTZ,
    "end"           TIMESTAMPTZ,
    source          TEXT        NOT NULL,
    detail          TEXT        NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX quality_events_series ON quality_events (symbol, timeframe, start);

CREATE TABLE freshness (
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    source          TEXT        NOT NULL,
    asset_class     TEXT        NOT NULL,
    last_bar_start  TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_error_at   TIMESTAMPTZ,
    last_error      TEXT,
    PRIMARY KEY (symbol, timeframe, source)
);

CREATE TABLE runs (
    id              BIGSERIAL   PRIMARY KEY,
    job             TEXT        NOT NULL,
    provider        TEXT        NOT NULL,
    plugin_version  TEXT        NOT NULL,
    started_at      TIMESTAMPTZ NOT NULL,
    finished_at     TIMESTAMPTZ,
    status          TEXT        NOT NULL,
    symbols_ok      BIGINT      NOT NULL DEFAULT 0,
    symbols_failed  BIGINT      NOT NULL DEFAULT 0,
    bars_written    BIGINT      NOT NULL DEFAULT 0,
    bars_rejected   BIGINT      NOT NULL DEFAULT 0,
    -- JSON array of error strings.
    errors          TEXT        NOT NULL DEFAULT '[]'
);
CREATE INDEX runs_job ON runs (job, started_at DESC);

CREATE TABLE checkpoints (
    job             TEXT        NOT NULL,
    symbol          TEXT        NOT NULL,
    timeframe       TEXT        NOT NULL,
    cursor          TEXT,
    covered_from    TIMESTAMPTZ NOT NULL,
    covered_to      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (job, symbol, timeframe)
);
