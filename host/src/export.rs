//! Bars as text for other programs: CSV with the decimals exactly as the provider or the
//! store has them and times in RFC 3339 UTC. One layout, shared by the command line
//! (`mdhost plugin call`, `mdhost bars`) and the admin API's `/bars`.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::domain::RawBar;
use crate::store::StoredBar;

const BAR_HEADER: &str = "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete";

/// A time as RFC 3339 in UTC (`Z`), with as many fractional digits as it needs.
pub fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn csv_row(out: &mut impl Write, fields: &[&str]) -> std::io::Result<()> {
    let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", quoted.join(","))
}

/// A plugin's bars as CSV, decimals still the provider's text.
pub fn bars_csv(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    bars_csv_header(out)?;
    bars_csv_rows(out, bars)
}

/// The header line of [`bars_csv`], for output written a page at a time.
pub fn bars_csv_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{BAR_HEADER}")
}

/// The rows of [`bars_csv`] for some bars, without the header.
pub fn bars_csv_rows(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    for b in bars {
        csv_row(
            out,
            &[
                &b.symbol,
                &b.timeframe.to_string(),
                &time(&b.start),
                &b.open,
                &b.high,
                &b.low,
                &b.close,
                b.volume.as_deref().unwrap_or_default(),
                b.vwap.as_deref().unwrap_or_default(),
                &b.trades.map(|t| t.to_string()).unwrap_or_default(),
                &b.complete.to_string(),
            ],
        )?;
    }
    Ok(())
}

/// Stored bars as CSV, with their source: the exact decimals as stored.
pub fn stored_bars_csv(out: &mut impl Write, bars: &[StoredBar]) -> std::io::Result<()> {
    writeln!(out, "{BAR_HEADER},source,plugin_version")?;
    let opt = |d: Option<rust_decimal::Decimal>| d.map(|v| v.to_string()).unwrap_or_default();
    for s in bars {
        let b = &s.bar;
        csv_row(
            out,
            &[
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
            ],
        )?;
    }
    Ok(())
}

/// Quotes a field when it holds a comma, quote or newline (decimals never do, but a
/// misbehaving plugin's text must not break the file).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
