//! Rendering plugin info, freshness and the quarantine for people. Bars as CSV are
//! [`crate::export`]'s, shared with the admin API.

use std::io::Write;

use chrono::{DateTime, Utc};

use crate::domain::ProviderInfo;
use crate::export::time;
use crate::store::{Freshness, Quarantined};

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

pub fn actions_text(
    out: &mut impl Write,
    splits: &[crate::store::StoredSplit],
    dividends: &[crate::store::StoredDividend],
) -> std::io::Result<()> {
    if splits.is_empty() && dividends.is_empty() {
        return writeln!(out, "no corporate actions stored in that range");
    }
    writeln!(
        out,
        "{:<9} {:<12} {:<10} {:<24} {:<12} source",
        "action", "symbol", "ex-date", "ratio / amount", "kind"
    )?;
    for s in splits {
        let a = &s.action;
        writeln!(
            out,
            "{:<9} {:<12} {:<10} {:<24} {:<12} {}",
            "split",
            a.symbol,
            a.ex_date,
            format!("{}/{}", a.numerator, a.denominator),
            "-",
            s.source
        )?;
    }
    for d in dividends {
        let a = &d.action;
        let kind = serde_json::to_value(a.kind).ok();
        writeln!(
            out,
            "{:<9} {:<12} {:<10} {:<24} {:<12} {}",
            "dividend",
            a.symbol,
            a.ex_date,
            format!("{} {}", a.amount, a.currency),
            kind.as_ref().and_then(|k| k.as_str()).unwrap_or("-"),
            d.source
        )?;
    }
    writeln!(
        out,
        "{} split(s), {} dividend(s)",
        splits.len(),
        dividends.len()
    )
}

pub fn quotas_text(
    out: &mut impl Write,
    lines: &[crate::quotas::QuotaLine],
) -> std::io::Result<()> {
    if lines.is_empty() {
        return writeln!(out, "no served plugin has a request quota");
    }
    writeln!(
        out,
        "{:<14} {:<6} {:>10} {:>10}  state",
        "provider", "period", "used", "limit"
    )?;
    for l in lines {
        let state = match l.exhausted_until {
            Some(t) => format!("quota exhausted until {}", t.to_rfc3339()),
            None => format!("renews {}", l.renews_at.to_rfc3339()),
        };
        writeln!(
            out,
            "{:<14} {:<6} {:>10} {:>10}  {state}",
            l.provider,
            l.period.as_str(),
            l.used,
            l.limit
        )?;
    }
    Ok(())
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

pub fn info_text(
    out: &mut impl Write,
    info: &ProviderInfo,
    file: &str,
    hash: &str,
    wit: &str,
) -> std::io::Result<()> {
    let tfs: Vec<String> = info.timeframes.iter().map(ToString::to_string).collect();
    let classes: Vec<String> = info.asset_classes.iter().map(word).collect();
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
    )?;
    let kinds: Vec<String> = info.kinds.iter().map(word).collect();
    writeln!(out, "  kinds:           {}", kinds.join(", "))?;
    let quotas: Vec<String> = info
        .default_quotas
        .iter()
        .map(|q| format!("{} requests / {}", q.requests, word(&q.period)))
        .collect();
    writeln!(
        out,
        "  quotas:          {}",
        if quotas.is_empty() {
            "none".into()
        } else {
            quotas.join(", ")
        }
    )?;
    if info.options.is_empty() {
        return writeln!(out, "  options:         none");
    }
    writeln!(out, "  options:")?;
    for o in &info.options {
        writeln!(
            out,
            "    {} = {}  ({}) {}",
            o.name, o.default, o.kind, o.description
        )?;
    }
    Ok(())
}

/// A serde enum's kebab-case word (`corporate-actions`, `day`, `equity`).
pub(super) fn word(v: &impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
