-- Quarantine keeps one row per bar key and set of reasons, with how often it was seen: a
-- plugin that sends the same bad bar on every run (or pages forever over the same ones)
-- updates a count instead of adding rows.
ALTER TABLE quarantined_bars ADD COLUMN reason_codes TEXT;
ALTER TABLE quarantined_bars ADD COLUMN seen BIGINT NOT NULL DEFAULT 1;

-- The codes in the order the validator reports them, as the host writes them from now on.
UPDATE quarantined_bars q
SET reason_codes = COALESCE(
    (SELECT string_agg(e.value ->> 'code', ',' ORDER BY e.n)
     FROM json_array_elements(q.reasons::json) WITH ORDINALITY AS e(value, n)),
    '');

-- Rows already repeated fold into the newest of each key.
UPDATE quarantined_bars q
SET seen = d.n
FROM (SELECT max(id) AS id, count(*) AS n
      FROM quarantined_bars
      GROUP BY source, symbol, timeframe, start, reason_codes) d
WHERE q.id = d.id;
DELETE FROM quarantined_bars
WHERE id NOT IN (SELECT max(id)
                 FROM quarantined_bars
                 GROUP BY source, symbol, timeframe, start, reason_codes);

ALTER TABLE quarantined_bars ALTER COLUMN reason_codes SET NOT NULL;
CREATE UNIQUE INDEX quarantined_bars_key
    ON quarantined_bars (source, symbol, timeframe, start, reason_codes);
