-- Economic series and instrument reference data, with the promises bars and actions have:
-- one transaction per batch, replays change nothing, and a change a source makes to its
-- own row is written in place and logged in `quality_events` (`observation.revised`,
-- `instrument.revised`). Every key holds the source, so no source overwrites another's.
-- Decimals are canonical TEXT, days TEXT 'YYYY-MM-DD' and instants INTEGER nanoseconds,
-- as in the other tables.

-- What a series measures, as each source describes it (the latest description only).
CREATE TABLE series_meta (
    series_id           TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    title               TEXT    NOT NULL,
    units               TEXT    NOT NULL,
    frequency           TEXT    NOT NULL,
    seasonal_adjustment TEXT,
    -- When the provider last changed the series, if it says.
    last_updated        INTEGER,
    plugin_version      TEXT    NOT NULL,
    ingested_at         INTEGER NOT NULL,
    PRIMARY KEY (series_id, source)
) WITHOUT ROWID;

CREATE TABLE observations (
    series_id       TEXT    NOT NULL,
    -- The period the value is for: a calendar day, not an instant.
    date            TEXT    NOT NULL,
    -- Exact decimal as TEXT. NULL is a missing value (FRED's "."), kept as a row of its
    -- own: a missing value is neither zero nor absent, and a later number for it is a
    -- revision.
    value           TEXT,
    -- The vintage: the days (both included) on which this value was the published one.
    -- A provider without vintages sends no start; it is stored as '0001-01-01', before
    -- any real vintage, and read back as none. A sentinel rather than NULL because NULLs
    -- never collide in a unique key (two replays of one value would be two rows), and
    -- Postgres keeps a DATE here, so the '' that actions use for a missing kind would not
    -- do. As the earliest day it also needs no special case in an as-of read: a value
    -- without vintages is valid on every day.
    realtime_start  TEXT    NOT NULL,
    -- NULL when the provider has no vintages (or the vintage is still current and the
    -- provider leaves it open).
    realtime_end    TEXT,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    PRIMARY KEY (series_id, date, realtime_start, source)
) WITHOUT ROWID;

-- The instruments each provider lists. Keyed by the provider's own symbol, not the
-- canonical one: the provider's spelling is what identifies its listing, while the
-- canonical symbol is mapped from it by rules that may change (or map two listings, such
-- as one ticker on two venues, to one symbol). A changed mapping is then a revision of
-- one row, not a second row beside a stale one. An instrument a provider stops listing
-- is never deleted: a page of instruments says nothing of those not on it, and stored
-- bars may still name a delisted instrument; `active` and `delisted` say what is current.
CREATE TABLE instruments (
    source          TEXT    NOT NULL,
    provider_symbol TEXT    NOT NULL,
    -- The canonical symbol.
    symbol          TEXT    NOT NULL,
    name            TEXT,
    asset_class     TEXT    NOT NULL,
    -- ISO 10383 MIC where known.
    exchange        TEXT,
    currency        TEXT,
    -- 0 or 1.
    active          INTEGER NOT NULL,
    listed          TEXT,
    delisted        TEXT,
    plugin_version  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    PRIMARY KEY (source, provider_symbol)
) WITHOUT ROWID;
CREATE INDEX instruments_symbol ON instruments (symbol);
