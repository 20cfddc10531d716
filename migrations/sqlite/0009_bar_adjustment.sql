-- What the provider had restated each bar for when it sent it (raw, splits,
-- splits-and-dividends), as of the row's ingested_at: the read side undoes or extends the
-- provider's adjustment from the stored corporate actions. Rows written before this
-- column existed came from plugins that could not say, and are taken as traded.
ALTER TABLE bars ADD COLUMN adjustment TEXT NOT NULL DEFAULT 'raw';
