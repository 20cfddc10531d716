-- Gap recoveries a stream has queued and not yet committed: an interval `[gap_from,
-- gap_to)` of one symbol that the stream did not deliver. A row is written when recovery
-- takes the gap up and deleted once the recovered bars are committed, so a stop (SIGTERM,
-- kill, crash) leaves the unfinished ones here for the stream's next start.
CREATE TABLE stream_gaps (
    stream      TEXT        NOT NULL,
    timeframe   TEXT        NOT NULL,
    symbol      TEXT        NOT NULL,
    gap_from    TIMESTAMPTZ NOT NULL,
    gap_to      TIMESTAMPTZ NOT NULL,
    queued_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (stream, timeframe, symbol, gap_from, gap_to)
);
