//! The status page at `/`: what an operator checks at a glance, rendered on the server as
//! plain HTML and inline SVG (no script): open alerts, every series' freshness with the
//! stale ones first and a small chart of its recent closes with quality events marked,
//! the jobs with their last run and next tick, the streams, and the plugins.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::Html;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::AdminState;
use crate::store::{Freshness, StoredEvent};

/// Closes drawn per chart.
const CHART_BARS: u32 = 60;
const CHART_W: i64 = 180;
const CHART_H: i64 = 36;

/// Text for HTML: `<`, `>`, `&` and quotes escaped.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or("—".to_owned(), |t| {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    })
}

/// An inline SVG of `closes` (oldest first), with a red dot on each bar that has a quality
/// event. Positions are computed in exact decimals and rounded to whole pixels.
pub fn chart(closes: &[(DateTime<Utc>, Decimal)], marked: &[DateTime<Utc>]) -> String {
    if closes.len() < 2 {
        return "<span class=\"muted\">no history</span>".to_owned();
    }
    let lo = closes.iter().map(|c| c.1).min().unwrap_or_default();
    let hi = closes.iter().map(|c| c.1).max().unwrap_or_default();
    let span = if hi > lo { hi - lo } else { Decimal::ONE };
    let last = Decimal::from(closes.len() as i64 - 1);
    let point = |i: usize, v: Decimal| {
        let x = (Decimal::from(i as i64) * Decimal::from(CHART_W - 4) / last).round();
        let y = (Decimal::from(CHART_H - 4) - (v - lo) * Decimal::from(CHART_H - 4) / span).round();
        (x + Decimal::TWO, y + Decimal::TWO)
    };
    let mut svg = format!(
        "<svg class=\"chart\" width=\"{CHART_W}\" height=\"{CHART_H}\" viewBox=\"0 0 {CHART_W} {CHART_H}\"><polyline fill=\"none\" stroke=\"#2563eb\" stroke-width=\"1.5\" points=\""
    );
    for (i, (_, v)) in closes.iter().enumerate() {
        let (x, y) = point(i, *v);
        let _ = write!(svg, "{x},{y} ");
    }
    svg.push_str("\"/>");
    for (i, (start, v)) in closes.iter().enumerate() {
        if marked.contains(start) {
            let (x, y) = point(i, *v);
            let _ = write!(
                svg,
                "<circle class=\"event\" cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"#dc2626\"/>"
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

fn table(out: &mut String, id: &str, title: &str, head: &[&str], rows: &[Vec<String>]) {
    let _ = write!(out, "<section id=\"{id}\"><h2>{title}</h2>");
    if rows.is_empty() {
        out.push_str("<p class=\"muted\">none</p></section>");
        return;
    }
    out.push_str("<table><tr>");
    for h in head {
        let _ = write!(out, "<th>{h}</th>");
    }
    out.push_str("</tr>");
    for row in rows {
        let cls = if row.first().is_some_and(|c| c.contains("class=\"bad\"")) {
            " class=\"alert\""
        } else {
            ""
        };
        let _ = write!(out, "<tr{cls}>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</table></section>");
}

fn state(ok: bool, text: &str) -> String {
    let cls = if ok { "ok" } else { "bad" };
    format!("<span class=\"{cls}\">{}</span>", esc(text))
}

pub(super) async fn page(State(s): State<AdminState>) -> Html<String> {
    let now = Utc::now();
    let config = s.registry.config();
    let plugins = s.registry.status();
    let jobs = s.jobs.jobs();
    let streams = (s.streams)();
    let alerts = (s.alerts)();
    let (fresh, store_error) = match s.store.freshness().await {
        Ok(rows) => (rows, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let stale: Vec<&Freshness> = crate::store::stale(&fresh, &config.validation, now);
    let is_stale = |f: &Freshness| {
        stale
            .iter()
            .any(|x| x.symbol == f.symbol && x.timeframe == f.timeframe && x.source == f.source)
    };
    let events: Vec<StoredEvent> = s.store.events(None, 500).await.unwrap_or_default();

    let mut out = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>mdhost status</title><style>\
         body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#111}h1{margin:0 0 4px}\
         h2{font-size:16px;margin:22px 0 6px}table{border-collapse:collapse}\
         td,th{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left;vertical-align:middle}\
         th{font-weight:600;color:#374151}.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}\
         .muted{color:#6b7280}tr.alert{background:#fef2f2}.summary{color:#374151}\
         </style></head><body><h1>mdhost</h1>",
    );
    let serving = plugins.iter().filter(|p| p.name.is_some()).count();
    let firing = alerts.iter().filter(|a| a.firing()).count();
    let _ = write!(
        out,
        "<p class=\"summary\" id=\"summary\">{serving} plugins serving · {} jobs · {} streams · {} of {} series stale · {firing} alerts firing · {}</p>",
        jobs.len(),
        streams.len(),
        stale.len(),
        fresh.len(),
        when(Some(now))
    );
    if let Some(e) = &store_error {
        let _ = write!(
            out,
            "<p class=\"bad\" id=\"store-error\">the store does not answer: {}</p>",
            esc(e)
        );
    }

    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                state(!a.firing(), if a.firing() { "firing" } else { "resolved" }),
                esc(a.condition.rule.name()),
                esc(&a.condition.summary),
                when(Some(a.starts_at)),
            ]
        })
        .collect();
    table(
        &mut out,
        "alerts",
        "Alerts",
        &["state", "rule", "what", "since"],
        &rows,
    );

    let mut series: Vec<&Freshness> = fresh.iter().collect();
    series.sort_by_key(|f| (!is_stale(f), f.symbol.clone(), f.timeframe.to_string()));
    let mut rows = Vec::new();
    for f in series {
        let closes = s
            .store
            .recent_bars(&f.symbol, f.timeframe, now, CHART_BARS)
            .await
            .unwrap_or_default();
        let tf = f.timeframe.to_string();
        let marked: Vec<DateTime<Utc>> = events
            .iter()
            .filter(|e| e.symbol == f.symbol && e.timeframe == tf)
            .filter_map(|e| e.start)
            .collect();
        let stale_now = is_stale(f);
        rows.push(vec![
            state(!stale_now, if stale_now { "stale" } else { "fresh" }),
            esc(&f.symbol),
            esc(&tf),
            esc(&f.source),
            when(f.last_bar_start),
            f.last_error.as_deref().map_or(String::new(), |e| {
                format!(
                    "<span class=\"muted\">{}</span>",
                    esc(&crate::text::clip(e, 120))
                )
            }),
            chart(&closes, &marked),
        ]);
    }
    table(
        &mut out,
        "freshness",
        "Freshness",
        &[
            "state",
            "symbol",
            "timeframe",
            "source",
            "last bar",
            "last error",
            "recent closes",
        ],
        &rows,
    );

    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|j| {
            let (ok, last) = match &j.last_run {
                Some(r) => (
                    r.status.as_str() == "ok",
                    format!(
                        "{} at {}: {}",
                        r.status.as_str(),
                        when(Some(r.finished_at)),
                        r.line
                    ),
                ),
                None => (true, "not run yet".to_owned()),
            };
            vec![
                state(
                    ok,
                    if j.running {
                        "running"
                    } else if ok {
                        "ok"
                    } else {
                        "failing"
                    },
                ),
                esc(&j.name),
                esc(j.kind),
                esc(&j.providers.join(", ")),
                esc(&last),
                when(j.next_run),
            ]
        })
        .collect();
    table(
        &mut out,
        "jobs",
        "Jobs",
        &["state", "job", "kind", "providers", "last run", "next run"],
        &rows,
    );

    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|st| {
            vec![
                state(
                    st.connected,
                    if st.connected { "connected" } else { "down" },
                ),
                esc(&st.name),
                st.last_message_age_s
                    .map_or("—".into(), |a| format!("{a} s ago")),
            ]
        })
        .collect();
    table(
        &mut out,
        "streams",
        "Streams",
        &["state", "stream", "last message"],
        &rows,
    );

    let rows: Vec<Vec<String>> = plugins
        .iter()
        .map(|p| {
            vec![
                state(p.state == "serving", p.state),
                esc(p.name.as_deref().unwrap_or("?")),
                esc(p.version.as_deref().unwrap_or("?")),
                esc(p.wit_version.as_deref().unwrap_or("?")),
                esc(&p.file),
            ]
        })
        .collect();
    table(
        &mut out,
        "plugins",
        "Plugins",
        &["state", "plugin", "version", "contract", "file"],
        &rows,
    );
    out.push_str("</body></html>");
    Html(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_charts_scale_exactly() {
        assert_eq!(esc("<b a=\"x\">&'"), "&lt;b a=&quot;x&quot;&gt;&amp;&#39;");
        let t = |h: i64| DateTime::from_timestamp(1_704_067_200 + h * 3600, 0).unwrap();
        let closes = [
            (t(0), Decimal::new(100, 0)),
            (t(1), Decimal::new(150, 0)),
            (t(2), Decimal::new(200, 0)),
        ];
        let svg = chart(&closes, &[t(1)]);
        // Lowest at the bottom, highest at the top, the middle one marked.
        assert!(svg.contains("points=\"2,34 90,18 178,2 \""), "{svg}");
        assert!(
            svg.contains("<circle class=\"event\" cx=\"90\" cy=\"18\""),
            "{svg}"
        );
        assert!(chart(&closes[..1], &[]).contains("no history"));
    }
}
