-- Keys of the read API: the SHA-256 of each key (the key itself is shown once, when it is
-- created, and never stored), what it may read, and its request rate. A revoked key is
-- kept, with when it was revoked, so `mdhost keys list` shows its history.
CREATE TABLE api_keys (
    name            TEXT        PRIMARY KEY,
    hash            TEXT        NOT NULL UNIQUE,
    scope           TEXT        NOT NULL,
    per_minute      BIGINT      NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    revoked_at      TIMESTAMPTZ
);
