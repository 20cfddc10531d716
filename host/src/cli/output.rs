//! Rendering bars and plugin info for people (text, CSV) and programs (JSON).

use std::io::Write;

use crate::domain::{ProviderInfo, RawBar};

pub fn bars_csv(out: &mut impl Write, bars: &[RawBar]) -> std::io::Result<()> {
    writeln!(
        out,
        "symbol,timeframe,start,open,high,low,close,volume,vwap,trades,complete"
    )?;
    for b in bars {
        writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&b.symbol),
            b.timeframe,
            b.start.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            csv_field(&b.open),
            csv_field(&b.high),
            csv_field(&b.low),
            csv_field(&b.close),
            b.volume.as_deref().map(csv_field).unwrap_or_default(),
            b.vwap.as_deref().map(csv_field).unwrap_or_default(),
            b.trades.map(|t| t.to_string()).unwrap_or_default(),
            b.complete
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
