-- The newest term each `[cluster]` has had a leader in, counted here: each new leader
-- claims the next one.
-- A write of a host of the cluster reads it (FOR SHARE) and is refused if the host's own
-- term is older: a leader that stalled past its lease cannot write after its successor
-- claimed the lead. A claim takes the row's lock, so it waits for writes still in flight.
CREATE TABLE cluster_terms (
    cluster     TEXT        PRIMARY KEY,
    term        BIGINT      NOT NULL
);
