//! Rendering bars and plugin info for people (text, CSV) and programs (JSON).

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::domain::{ProviderInfo, RawBar};
use crate::store::{Freshness, Quarantined, StoredBar};

const BAR_HEADER: &str = "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete";

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

fn csv_row(out: &mut impl Write, fields: &[&str]) -> std::io::Result<()> {
    let quoted: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    writeln!(out, "{}", quoted.join(","))
}

pub fn bars_csv(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    writeln!(out, "{BAR_HEADER}")?;
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

fn or_dash(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| time(&t)).unwrap_or_else(|| "-".into())
}

pub fn freshness_text(
    out: &mut impl Write,
    rows: &[Freshness],
    stale: &[&Freshness],
) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "no series in the store yet");
    }
    writeln!(
        out,
        "{:<12} {:<4} {:<14} {:<22} {:<22} {:<6} last error",
        "symbol", "tf", "source", "last bar", "last success", "state"
    )?;
    for f in rows {
        let state = if stale.iter().any(|s| std::ptr::eq(*s, f)) {
            "STALE"
        } else {
            "ok"
        };
        writeln!(
            out,
            "{:<12} {:<4} {:<14} {:<22} {:<22} {:<6} {}",
            f.symbol,
            f.timeframe.to_string(),
            f.source,
            or_dash(f.last_bar_start),
            or_dash(f.last_success_at),
            state,
            f.last_error.as_deref().unwrap_or("-")
        )?;
    }
    writeln!(out, "{} series, {} stale", rows.len(), stale.len())
}

pub fn quarantine_text(out: &mut impl Write, rows: &[Quarantined]) -> std::io::Result<()> {
    if rows.is_empty() {
        return writeln!(out, "quarantine is empty");
    }
    for q in rows {
        let codes: Vec<&str> = q.reasons.iter().map(|r| r.code.as_str()).collect();
        writeln!(
            out,
            "{} {} {} from {} {} (received {}): {}",
            q.symbol,
            q.timeframe,
            time(&q.start),
            q.source,
            q.plugin_version,
            time(&q.received_at),
            codes.join(", ")
        )?;
        for r in &q.reasons {
            writeln!(out, "    {}: {}", r.code.as_str(), r.detail)?;
        }
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

pub fn info_text(
    out: &mut impl Write,
    info: &ProviderInfo,
    file: &str,
    hash: &str,
    wit: &str,
) -> std::io::Result<()> {
    let tfs: Vec<String> = info.timeframes.iter().map(ToString::to_string).collect();
    let classes: Vec<String> = info
        .asset_classes
        .iter()
        .map(|a| {
            serde_json::to_value(a)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    writeln!(
        out,
        "{} {}  —  {}",
        info.name, info.version, info.description
    )?;
    writeln!(out, "  file:            {file}")?;
    writeln!(out, "  sha256:          {hash}")?;
    writeln!(out, "  wit:             mdhost:provider@{wit}")?;
    writeln!(out, "  asset classes:   {}", classes.join(", "))?;
    writeln!(out, "  timeframes:      {}", tfs.join(", "))?;
    writeln!(out, "  allowed hosts:   {}", info.allowed_hosts.join(", "))?;
    writeln!(
        out,
        "  secrets:         {}",
        if info.secrets.is_empty() {
            "none".into()
        } else {
            info.secrets.join(", ")
        }
    )?;
    writeln!(
        out,
        "  rate limit:      {} requests / {} s",
        info.default_rate_limit.requests, info.default_rate_limit.per_seconds
    )?;
    writeln!(out, "  symbols/request: {}", info.max_symbols_per_request)?;
    writeln!(
        out,
        "  streaming:       {}",
        if info.streaming { "yes" } else { "no" }
    )
}
