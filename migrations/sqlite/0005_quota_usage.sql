-- Requests counted against each provider's quotas, one row per quota period (a UTC day or
-- month, by its start). Every host on this store counts here, in the same transaction that
-- decides whether a request may go, so a restart or a second host does not start afresh.
-- `quota` is the limit the last count was held to, kept for reports.
CREATE TABLE quota_usage (
    provider     TEXT        NOT NULL,
    period       TEXT        NOT NULL,
    window_start INTEGER     NOT NULL,
    used         INTEGER     NOT NULL,
    quota        INTEGER     NOT NULL,
    updated_at   INTEGER     NOT NULL,
    PRIMARY KEY (provider, period, window_start)
);
