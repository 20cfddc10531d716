//! Stored data as text for other programs: bars as CSV with the decimals exactly as the
//! provider or the store has them and times in RFC 3339 UTC, and a symbol's corporate
//! actions and a series' observations as JSON. One layout each, shared by the command
//! line (`mdhost plugin call`, `mdhost bars`, `mdhost actions`, `mdhost series`) and the
//! admin API (`/bars`, `/actions`, `/series/{id}`).

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::domain::{RawBar, RawDecimal};
use crate::store::{Store, StoreError, StoredBar};

/// The stored splits and dividends of one symbol with ex-dates in `[from, to)`, each
/// source's own, oldest first; decimals as exact strings.
pub async fn stored_actions(
    store: &dyn Store,
    symbol: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> Result<serde_json::Value, StoreError> {
    let splits = store.splits(symbol, from, to).await?;
    let dividends = store.dividends(symbol, from, to).await?;
    Ok(serde_json::json!({ "symbol": symbol, "splits": splits, "dividends": dividends }))
}

/// One series' stored observations with dates in `[from, to)` (each date's vintage valid
/// on `as_of`, else the latest) and every source's description of it; a missing value is
/// `null`, never zero.
pub async fn stored_series(
    store: &dyn Store,
    series_id: &str,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    as_of: Option<chrono::NaiveDate>,
) -> Result<serde_json::Value, StoreError> {
    let observations = store.observations(series_id, from, to, as_of).await?;
    let meta = store.series_meta(series_id).await?;
    Ok(serde_json::json!({
        "series_id": series_id,
        "as_of": as_of,
        "meta": meta,
        "observations": observations,
    }))
}

const BAR_HEADER: [&str; 11] = [
    "symbol",
    "timeframe",
    "start",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "vwap",
    "trades",
    "complete",
];

/// A time as RFC 3339 in UTC (`Z`), with as many fractional digits as it needs.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// A CSV writer onto `out`: fields quoted only when they hold a comma, quote or line
/// break (decimals never do, but a misbehaving plugin's text must not break the file),
/// records ended by `\n`.
fn csv_writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new().from_writer(out)
}

/// A plugin's bars as CSV, decimals still the provider's text.
pub fn bars_csv(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    bars_csv_header(out)?;
    bars_csv_rows(out, bars)
}

/// The header line of [`bars_csv`], for output written a page at a time.
pub fn bars_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(BAR_HEADER)?;
    w.flush()
}

/// The rows of [`bars_csv`] for some bars, without the header.
pub fn bars_csv_rows(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    let mut w = csv_writer(out);
    for b in bars {
        let (open, high, low, close) = (
            b.open.to_text(),
            b.high.to_text(),
            b.low.to_text(),
            b.close.to_text(),
        );
        let text = |d: Option<&'_ RawDecimal>| d.map(|d| d.to_text().into_owned());
        let (volume, vwap) = (
            text(b.volume.as_ref()).unwrap_or_default(),
            text(b.vwap.as_ref()).unwrap_or_default(),
        );
        let row: [&str; 11] = [
            &b.symbol,
            &b.timeframe.to_string(),
            &time(&b.start),
            &open,
            &high,
            &low,
            &close,
            &volume,
            &vwap,
            &b.trades.map(|t| t.to_string()).unwrap_or_default(),
            &b.complete.to_string(),
        ];
        w.write_record(row)?;
    }
    w.flush()
}

/// Stored bars as CSV, with their source: the exact decimals as stored.
pub fn stored_bars_csv(out: &mut impl Write, bars: &[StoredBar]) -> std::io::Result<()> {
    let mut w = csv_writer(out);
    w.write_record(BAR_HEADER.iter().chain(&["source", "plugin_version"]))?;
    let opt = |d: Option<rust_decimal::Decimal>| d.map(|v| v.to_string()).unwrap_or_default();
    for s in bars {
        let b = &s.bar;
        w.write_record([
            &b.symbol,
            &b.timeframe.to_string(),
            &time(&b.start),
            &b.open.to_string(),
            &b.high.to_string(),
            &b.low.to_string(),
            &b.close.to_string(),
            &opt(b.volume),
            &opt(b.vwap),
            &b.trades.map(|t| t.to_string()).unwrap_or_default(),
            &b.complete.to_string(),
            &s.source,
            &s.plugin_version,
        ])?;
    }
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(symbol: &str, volume: Option<&str>) -> RawBar {
        RawBar {
            symbol: symbol.into(),
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-08T14:30:00Z".parse().unwrap(),
            open: "1.10".into(),
            high: "2".into(),
            low: "1".into(),
            close: "1.5".into(),
            volume: volume.map(Into::into),
            vwap: None,
            trades: Some(7),
            complete: true,
        }
    }

    fn check(bars: &[RawBar], expected: &str) {
        let mut out = Vec::new();
        bars_csv(&mut out, bars).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), expected);
    }

    #[test]
    fn bars_are_csv_with_text_that_cannot_break_the_file() {
        let head = "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete\n";
        check(&[], head);
        check(
            &[raw("AAPL", Some("100")), raw("BRK.B", None)],
            &format!(
                "{head}AAPL,1m,2025-07-08T14:30:00Z,1.10,2,1,1.5,100,,7,true\n\
                 BRK.B,1m,2025-07-08T14:30:00Z,1.10,2,1,1.5,,,7,true\n"
            ),
        );
        // A plugin's text with a comma, a quote and a line break stays one field.
        check(
            &[raw("A,\"B\"\nC", Some("1"))],
            &format!("{head}\"A,\"\"B\"\"\nC\",1m,2025-07-08T14:30:00Z,1.10,2,1,1.5,1,,7,true\n"),
        );
    }
}
