//! Gap recovery: a missing interval of one symbol (after a disconnect, or a bar sequence
//! that skipped intervals) is fetched with `fetch-bars`, from the stream's own plugin first
//! and then its failover providers, and handed to the same write path as live bars. Gaps
//! queued together with the same interval (every symbol after one reconnect) are asked for
//! in one request per `max-symbols-per-request` symbols.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use super::writer::Item;
use crate::domain::{BarsRequest, Timeframe};
use crate::metrics::Metrics;
use crate::reload::Registry;
use crate::store::Source;

/// An interval `[start, end)` of `symbol` the stream did not deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gap {
    pub symbol: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Symbols missing one interval, asked for in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    symbols: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

/// `gaps` grouped by interval, in the order each interval first appears, into batches of
/// at most `size` symbols (a symbol queued twice for one interval is asked for once).
fn batches(gaps: Vec<Gap>, size: usize) -> Vec<Batch> {
    let mut by_interval: Vec<Batch> = Vec::new();
    for g in gaps {
        match by_interval
            .iter_mut()
            .find(|b| b.start == g.start && b.end == g.end)
        {
            Some(b) if b.symbols.contains(&g.symbol) => {}
            Some(b) => b.symbols.push(g.symbol),
            None => by_interval.push(Batch {
                symbols: vec![g.symbol],
                start: g.start,
                end: g.end,
            }),
        }
    }
    by_interval
        .into_iter()
        .flat_map(|b| {
            b.symbols
                .chunks(size.max(1))
                .map(|c| Batch {
                    symbols: c.to_vec(),
                    start: b.start,
                    end: b.end,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Pages one provider may return for a single gap before the host gives up on it.
const MAX_PAGES: usize = 1_000;

/// Works through the gaps of one stream in order, one request at a time, so that a burst
/// of reconnects cannot flood the provider (its rate limiter paces the requests too).
pub struct Recovery {
    pub stream: String,
    pub providers: Vec<String>,
    pub timeframe: Timeframe,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub writer: mpsc::Sender<Item>,
}

impl Recovery {
    pub async fn run(self, mut gaps: mpsc::UnboundedReceiver<Gap>) {
        while let Some(first) = gaps.recv().await {
            let mut queued = vec![first];
            while let Ok(g) = gaps.try_recv() {
                queued.push(g);
            }
            for batch in batches(queued, self.batch_size()) {
                let symbols = batch.symbols.join(",");
                let n = batch.symbols.len() as u64;
                match self.recover(&batch).await {
                    Ok((provider, bars)) => {
                        self.metrics.stream_recovery(&self.stream, "ok", n);
                        tracing::info!(stream = %self.stream, symbols = %symbols, from = %batch.start, to = %batch.end, provider = %provider, bars, "gap recovered");
                    }
                    Err(errors) => {
                        self.metrics.stream_recovery(&self.stream, "failed", n);
                        tracing::warn!(stream = %self.stream, symbols = %symbols, from = %batch.start, to = %batch.end, errors = %errors.join("; "), "gap not recovered; a poll job with a lookback window can still heal it");
                    }
                }
            }
        }
    }

    /// Symbols the stream's own plugin takes in one request.
    fn batch_size(&self) -> usize {
        self.providers
            .first()
            .and_then(|p| self.registry.get(p))
            .map_or(1, |p| p.info().max_symbols_per_request.max(1) as usize)
    }

    /// Fetches `gap` from the first provider that serves it; returns that provider and
    /// the bars handed to the writer, or each provider's error.
    async fn recover(&self, gap: &Batch) -> Result<(String, usize), Vec<String>> {
        let mut errors = Vec::new();
        for name in &self.providers {
            match self.fetch(name, gap).await {
                Ok(n) => return Ok((name.clone(), n)),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        Err(errors)
    }

    async fn fetch(&self, name: &str, gap: &Batch) -> Result<usize, String> {
        let plugin = self.registry.get(name).ok_or("plugin not loaded")?;
        let class = plugin
            .info()
            .asset_classes
            .first()
            .copied()
            .unwrap_or(crate::domain::AssetClass::Equity);
        let source = Source {
            provider: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
        };
        let mut req = BarsRequest {
            symbols: gap.symbols.clone(),
            timeframe: self.timeframe,
            start: gap.start,
            end: gap.end,
            cursor: None,
        };
        let mut sent = 0;
        for _ in 0..MAX_PAGES {
            let page = match plugin.fetch_bars(&req).await {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => return Err(e.to_string()),
                Err(e) => return Err(e.to_string()),
            };
            let answer = super::writer::answer_id();
            for bar in page.bars {
                // Only closed bars of the gap: the stream delivers the rest.
                if bar.complete
                    && bar.start >= gap.start
                    && bar.start < gap.end
                    && gap.symbols.contains(&bar.symbol)
                {
                    let item = Item::Bar {
                        class,
                        bar,
                        source: source.clone(),
                        received: None,
                        answer,
                    };
                    if self.writer.send(item).await.is_err() {
                        return Err("the stream is stopping".into());
                    }
                    sent += 1;
                }
            }
            match page.next_cursor {
                Some(c) => req.cursor = Some(c),
                None => return Ok(sent),
            }
        }
        Err(format!("more than {MAX_PAGES} pages"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(symbol: &str, start: i64, end: i64) -> Gap {
        Gap {
            symbol: symbol.into(),
            start: DateTime::from_timestamp(start, 0).unwrap(),
            end: DateTime::from_timestamp(end, 0).unwrap(),
        }
    }

    fn check(gaps: &[(&str, i64, i64)], size: usize, expected: &[(&[&str], i64, i64)]) {
        let got = batches(gaps.iter().map(|g| gap(g.0, g.1, g.2)).collect(), size);
        let want: Vec<Batch> = expected
            .iter()
            .map(|(s, a, b)| Batch {
                symbols: s.iter().map(|x| x.to_string()).collect(),
                start: DateTime::from_timestamp(*a, 0).unwrap(),
                end: DateTime::from_timestamp(*b, 0).unwrap(),
            })
            .collect();
        assert_eq!(got, want, "{gaps:?}");
    }

    #[test]
    fn gaps_of_one_interval_share_requests_up_to_the_plugins_batch_size() {
        check(&[("A", 0, 60)], 10, &[(&["A"], 0, 60)]);
        check(
            &[("A", 0, 60), ("B", 0, 60), ("C", 0, 60), ("A", 60, 120)],
            2,
            &[(&["A", "B"], 0, 60), (&["C"], 0, 60), (&["A"], 60, 120)],
        );
        check(&[("A", 0, 60), ("A", 0, 60)], 10, &[(&["A"], 0, 60)]);
    }
}
