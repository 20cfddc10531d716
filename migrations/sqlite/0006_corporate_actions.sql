-- Corporate actions: splits and cash dividends as each source reported them, with the same
-- promises as bars. The key holds the source, so every source keeps its own row and none
-- overwrites another's; a change a source makes to its own row is written in place and
-- logged in `quality_events` (kind `action.revised`). Ratios and amounts are canonical
-- TEXT decimals like the bar columns; dates are calendar days as TEXT 'YYYY-MM-DD', which
-- sorts and compares like the days themselves.

CREATE TABLE splits (
    symbol          TEXT    NOT NULL,
    ex_date         TEXT    NOT NULL,
    -- Each share becomes numerator / denominator shares on the ex-date.
    numerator       TEXT    NOT NULL,
    denominator     TEXT    NOT NULL,
    provider_id     TEXT,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    PRIMARY KEY (symbol, ex_date, source)
) WITHOUT ROWID;

CREATE TABLE dividends (
    symbol          TEXT    NOT NULL,
    ex_date         TEXT    NOT NULL,
    -- regular, special, capital-gains, return-of-capital, other: a special dividend on a
    -- regular one's ex-date is another event.
    kind            TEXT    NOT NULL,
    amount          TEXT    NOT NULL,
    currency        TEXT    NOT NULL,
    declared_date   TEXT,
    record_date     TEXT,
    pay_date        TEXT,
    provider_id     TEXT,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    ingested_at     INTEGER NOT NULL,
    -- Currency is a value, not part of the key: a source that corrects the currency of a
    -- distribution (USD to GBP, say) revises that one event. With currency in the key the
    -- correction would leave two rows for one payment, and whatever adjusts prices would
    -- count it twice. Validation already treats (symbol, ex-date, kind) as one event.
    PRIMARY KEY (symbol, ex_date, kind, source)
) WITHOUT ROWID;

-- Rejected actions, once per key and set of reasons like quarantined_bars (0003), with how
-- often each was seen; the row keeps the last copy.
CREATE TABLE quarantined_actions (
    id              INTEGER PRIMARY KEY,
    -- 'split' or 'dividend'.
    action          TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    ex_date         TEXT    NOT NULL,
    -- The dividend's kind; '' for a split (a key column, and NULLs never collide in a
    -- unique index).
    kind            TEXT    NOT NULL,
    -- The action as the plugin sent it (JSON of RawSplit or RawDividend, values as text).
    raw             TEXT    NOT NULL,
    -- JSON array of {"code", "detail"}, and the codes comma-separated for the key.
    reasons         TEXT    NOT NULL,
    reason_codes    TEXT    NOT NULL,
    seen            INTEGER NOT NULL DEFAULT 1,
    source          TEXT    NOT NULL,
    plugin_version  TEXT    NOT NULL,
    received_at     INTEGER NOT NULL
);
CREATE UNIQUE INDEX quarantined_actions_key
    ON quarantined_actions (source, action, symbol, ex_date, kind, reason_codes);
CREATE INDEX quarantined_actions_received ON quarantined_actions (received_at DESC);
