//! Gap recovery: a missing interval of one symbol (after a disconnect, or a bar sequence
//! that skipped intervals) is fetched with `fetch-bars`, from the stream's own plugin first
//! and then its failover providers, and handed to the same write path as live bars.

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

/// Pages one provider may return for a single gap before the host gives up on it.
const MAX_PAGES: usize = 1_000;

/// Works through the gaps of one stream in order, one at a time, so that a burst of
/// reconnects cannot flood the provider (its rate limiter paces the requests too).
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
        while let Some(gap) = gaps.recv().await {
            match self.recover(&gap).await {
                Ok((provider, n)) => {
                    self.metrics.stream_recovery(&self.stream, "ok");
                    tracing::info!(stream = %self.stream, symbol = %gap.symbol, from = %gap.start, to = %gap.end, provider = %provider, bars = n, "gap recovered");
                }
                Err(errors) => {
                    self.metrics.stream_recovery(&self.stream, "failed");
                    tracing::warn!(stream = %self.stream, symbol = %gap.symbol, from = %gap.start, to = %gap.end, errors = %errors.join("; "), "gap not recovered; a poll job with a lookback window can still heal it");
                }
            }
        }
    }

    /// Fetches `gap` from the first provider that serves it; returns that provider and
    /// the bars handed to the writer, or each provider's error.
    async fn recover(&self, gap: &Gap) -> Result<(String, usize), Vec<String>> {
        let mut errors = Vec::new();
        for name in &self.providers {
            match self.fetch(name, gap).await {
                Ok(n) => return Ok((name.clone(), n)),
                Err(e) => errors.push(format!("{name}: {e}")),
            }
        }
        Err(errors)
    }

    async fn fetch(&self, name: &str, gap: &Gap) -> Result<usize, String> {
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
            symbols: vec![gap.symbol.clone()],
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
                if bar.complete && bar.start >= gap.start && bar.start < gap.end {
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
