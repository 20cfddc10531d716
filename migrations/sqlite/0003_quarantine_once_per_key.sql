-- Quarantine keeps one row per bar key and set of reasons, with how often it was seen: a
-- plugin that sends the same bad bar on every run (or pages forever over the same ones)
-- updates a count instead of adding rows.
ALTER TABLE quarantined_bars ADD COLUMN reason_codes TEXT NOT NULL DEFAULT '';
ALTER TABLE quarantined_bars ADD COLUMN seen INTEGER NOT NULL DEFAULT 1;

-- The codes in the order the validator reports them, as the host writes them from now on.
UPDATE quarantined_bars
SET reason_codes = COALESCE(
    (SELECT group_concat(json_extract(e.value, '$.code'), ',')
     FROM (SELECT value FROM json_each(quarantined_bars.reasons) ORDER BY key) e),
    '');

-- Rows already repeated fold into the newest of each key.
UPDATE quarantined_bars
SET seen = (SELECT count(*) FROM quarantined_bars o
            WHERE o.source = quarantined_bars.source AND o.symbol = quarantined_bars.symbol
              AND o.timeframe = quarantined_bars.timeframe AND o.start = quarantined_bars.start
              AND o.reason_codes = quarantined_bars.reason_codes);
DELETE FROM quarantined_bars
WHERE id NOT IN (SELECT max(id)
                 FROM quarantined_bars
                 GROUP BY source, symbol, timeframe, start, reason_codes);

CREATE UNIQUE INDEX quarantined_bars_key
    ON quarantined_bars (source, symbol, timeframe, start, reason_codes);
