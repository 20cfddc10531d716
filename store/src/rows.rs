//! Reading stored rows back into store types, written once for both backends. Each
//! backend says how it reads a column ([`Columns`]); only instants and decimals differ
//! (Postgres: TIMESTAMPTZ and NUMERIC; SQLite: INTEGER nanoseconds and TEXT).

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use super::convert;
use super::*;
use mdhost_core::domain::Bar;

/// One result row, read column by column.
pub(super) trait Columns {
    fn text(&self, c: &str) -> Result<String, StoreError>;
    fn opt_text(&self, c: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, c: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, c: &str) -> Result<Option<i64>, StoreError>;
    fn flag(&self, c: &str) -> Result<bool, StoreError>;
    fn opt_time(&self, c: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn opt_decimal(&self, c: &'static str) -> Result<Option<Decimal>, StoreError>;
    fn opt_day(&self, c: &'static str) -> Result<Option<NaiveDate>, StoreError>;

    fn day(&self, c: &'static str) -> Result<NaiveDate, StoreError> {
        self.opt_day(c)?
            .ok_or_else(|| StoreError::corrupt(c, "NULL", "unexpected NULL"))
    }

    fn time(&self, c: &str) -> Result<DateTime<Utc>, StoreError> {
        self.opt_time(c)?
            .ok_or_else(|| StoreError::corrupt("time", c, "unexpected NULL"))
    }

    fn decimal(&self, c: &'static str) -> Result<Decimal, StoreError> {
        self.opt_decimal(c)?
            .ok_or_else(|| StoreError::corrupt(c, "NULL", "unexpected NULL"))
    }
}

/// The columns both drivers decode the same way.
macro_rules! same_in_both {
    () => {
        fn text(&self, c: &str) -> Result<String, StoreError> {
            Ok(self.try_get(c)?)
        }
        fn opt_text(&self, c: &str) -> Result<Option<String>, StoreError> {
            Ok(self.try_get(c)?)
        }
        fn int(&self, c: &str) -> Result<i64, StoreError> {
            Ok(self.try_get(c)?)
        }
        fn opt_int(&self, c: &str) -> Result<Option<i64>, StoreError> {
            Ok(self.try_get(c)?)
        }
        fn flag(&self, c: &str) -> Result<bool, StoreError> {
            Ok(self.try_get(c)?)
        }
    };
}

impl Columns for PgRow {
    same_in_both!();
    fn opt_time(&self, c: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get(c)?)
    }
    fn opt_decimal(&self, c: &'static str) -> Result<Option<Decimal>, StoreError> {
        Ok(self.try_get(c)?)
    }
    fn opt_day(&self, c: &'static str) -> Result<Option<NaiveDate>, StoreError> {
        Ok(self.try_get(c)?)
    }
}

/// SQLite: instants are INTEGER nanoseconds, decimals canonical TEXT, days TEXT.
impl Columns for SqliteRow {
    same_in_both!();
    fn opt_time(&self, c: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self.try_get::<Option<i64>, _>(c)?.map(convert::from_nanos))
    }
    fn opt_decimal(&self, c: &'static str) -> Result<Option<Decimal>, StoreError> {
        convert::opt_decimal(c, self.try_get(c)?)
    }
    fn opt_day(&self, c: &'static str) -> Result<Option<NaiveDate>, StoreError> {
        let text: Option<String> = self.try_get(c)?;
        text.map(|t| convert::day(c, &t)).transpose()
    }
}

pub(super) const BAR_COLUMNS: &str = "symbol, timeframe, start, open, high, low, close, volume, vwap, trades, complete, source, plugin_version, ingested_at, adjustment";

pub(super) fn bar(r: &impl Columns) -> Result<StoredBar, StoreError> {
    Ok(StoredBar {
        bar: Bar {
            symbol: r.text("symbol")?,
            timeframe: convert::timeframe(&r.text("timeframe")?)?,
            start: r.time("start")?,
            open: r.decimal("open")?,
            high: r.decimal("high")?,
            low: r.decimal("low")?,
            close: r.decimal("close")?,
            volume: r.opt_decimal("volume")?,
            vwap: r.opt_decimal("vwap")?,
            trades: r.opt_int("trades")?,
            complete: r.flag("complete")?,
        },
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        ingested_at: r.time("ingested_at")?,
        adjustment: convert::adjustment(&r.text("adjustment")?)?,
    })
}

pub(super) const FRESHNESS: &str = "SELECT symbol, timeframe, source, asset_class, last_bar_start, last_success_at, last_error_at, last_error FROM freshness ORDER BY symbol, timeframe, source";

/// A bar's start and close (the spike check's history).
pub(super) fn close(r: &impl Columns) -> Result<(DateTime<Utc>, Decimal), StoreError> {
    Ok((r.time("start")?, r.decimal("close")?))
}

pub(super) fn freshness(r: &impl Columns) -> Result<Freshness, StoreError> {
    Ok(Freshness {
        symbol: r.text("symbol")?,
        timeframe: convert::timeframe(&r.text("timeframe")?)?,
        source: r.text("source")?,
        asset_class: convert::asset_class(&r.text("asset_class")?)?,
        last_bar_start: r.opt_time("last_bar_start")?,
        last_success_at: r.opt_time("last_success_at")?,
        last_error_at: r.opt_time("last_error_at")?,
        last_error: r.opt_text("last_error")?,
    })
}

/// `trades` is read as text: quarantine keeps counts that do not fit 64 bits.
pub(super) fn quarantined(r: &impl Columns) -> Result<Quarantined, StoreError> {
    Ok(Quarantined {
        id: r.int("id")?,
        symbol: r.text("symbol")?,
        timeframe: r.text("timeframe")?,
        start: r.time("start")?,
        open: r.text("open")?,
        high: r.text("high")?,
        low: r.text("low")?,
        close: r.text("close")?,
        volume: r.opt_text("volume")?,
        vwap: r.opt_text("vwap")?,
        trades: r.opt_text("trades")?,
        complete: r.flag("complete")?,
        reasons: convert::reasons(&r.text("reasons")?)?,
        seen: r.int("seen")?,
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        received_at: r.time("received_at")?,
    })
}

pub(super) fn event(r: &impl Columns) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        id: r.int("id")?,
        kind: r.text("kind")?,
        symbol: r.text("symbol")?,
        timeframe: r.text("timeframe")?,
        start: r.opt_time("start")?,
        end: r.opt_time("end")?,
        source: r.text("source")?,
        detail: r.text("detail")?,
        created_at: r.time("created_at")?,
    })
}

pub(super) fn run(r: &impl Columns) -> Result<RunRow, StoreError> {
    let status = r.text("status")?;
    Ok(RunRow {
        id: r.int("id")?,
        start: RunStart {
            job: r.text("job")?,
            provider: r.text("provider")?,
            plugin_version: r.text("plugin_version")?,
            started_at: r.time("started_at")?,
        },
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::corrupt("status", status.clone(), "unknown run status"))?,
        finished_at: r.opt_time("finished_at")?,
        symbols_ok: convert::count(r.int("symbols_ok")?),
        symbols_failed: convert::count(r.int("symbols_failed")?),
        bars_written: convert::count(r.int("bars_written")?),
        bars_rejected: convert::count(r.int("bars_rejected")?),
        errors: convert::errors(&r.text("errors")?)?,
        reason: r.opt_text("reason")?,
        bars_fetched: convert::count(r.int("bars_fetched")?),
        bars_skipped: convert::count(r.int("bars_skipped")?),
        uncovered: convert::uncovered(&r.text("uncovered")?)?,
    })
}

pub(super) fn span(r: &impl Columns) -> Result<Span, StoreError> {
    Ok(Span::new(r.time("covered_from")?, r.time("covered_to")?))
}

pub(super) fn stream_gap(r: &impl Columns) -> Result<StreamGap, StoreError> {
    Ok(StreamGap {
        symbol: r.text("symbol")?,
        start: r.time("gap_from")?,
        end: r.time("gap_to")?,
    })
}

pub(super) fn checkpoint(
    r: &impl Columns,
    job: &str,
    symbol: &str,
    timeframe: Timeframe,
) -> Result<Checkpoint, StoreError> {
    Ok(Checkpoint {
        job: job.to_owned(),
        symbol: symbol.to_owned(),
        timeframe,
        cursor: r.opt_text("cursor")?,
        covered_from: r.time("covered_from")?,
        covered_to: r.time("covered_to")?,
    })
}

/// Maps every row with `f`.
pub(super) fn quota_usage(r: &impl Columns) -> Result<QuotaUsage, StoreError> {
    let period = r.text("period")?;
    let count = |c: &'static str| -> Result<u64, StoreError> {
        let n = r.int(c)?;
        u64::try_from(n).map_err(|e| StoreError::corrupt(c, n.to_string(), e))
    };
    Ok(QuotaUsage {
        provider: r.text("provider")?,
        period: period
            .parse()
            .map_err(|e: String| StoreError::corrupt("period", period.clone(), e))?,
        window_start: r.time("window_start")?,
        used: count("used")?,
        quota: count("quota")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(super) fn all<R, T>(
    rows: Vec<R>,
    f: fn(&R) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(f).collect()
}
