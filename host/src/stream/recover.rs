//! Gap recovery: a missing interval of one symbol (after a disconnect, or a bar sequence
//! that skipped intervals) is fetched with `fetch-bars`, from the stream's own plugin first
//! and then its failover providers, and handed to the same write path as live bars. Gaps
//! queued together with the same interval (every symbol after one reconnect) are asked for
//! in one request per `max-symbols-per-request` symbols.
//!
//! Every gap is recorded in the store when recovery takes it up and forgotten by the writer
//! once its recovered bars are committed, so a stop that comes first (SIGTERM past the
//! drain time, a kill, a crash) leaves it for the stream's next start.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::writer::Item;
use crate::domain::{BarsRequest, Timeframe};
use crate::failover::Failover;
use crate::metrics::Metrics;
use crate::reload::Registry;
use crate::runtime::Plugin;
use crate::runtime::pages::{End, Next};
use crate::store::{Source, Store};

/// An interval `[start, end)` of `symbol` the stream did not deliver.
pub use crate::store::StreamGap as Gap;

/// Symbols missing one interval, asked for in one request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    symbols: Vec<String>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
}

impl Batch {
    fn gaps(&self) -> Vec<Gap> {
        self.symbols
            .iter()
            .map(|s| Gap {
                symbol: s.clone(),
                start: self.start,
                end: self.end,
            })
            .collect()
    }
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
const MAX_PAGES: u32 = 1_000;

/// How long a starting stream waits for the store's list of gaps left queued.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// Works through the gaps of one stream in order, one request at a time, so that a burst
/// of reconnects cannot flood the provider (its rate limiter paces the requests too).
pub struct Recovery {
    pub stream: String,
    pub providers: Vec<String>,
    pub timeframe: Timeframe,
    pub registry: Arc<Registry>,
    pub metrics: Arc<Metrics>,
    pub writer: mpsc::Sender<Item>,
    pub store: Arc<dyn Store>,
}

impl Recovery {
    /// Recovers what an earlier run of the stream left queued, then every gap the session
    /// sends, until the session is gone and nothing is left, or `stop` says to give up
    /// (what is left stays recorded for the next start).
    pub async fn run(self, mut gaps: mpsc::UnboundedReceiver<Gap>, stop: CancellationToken) {
        let mut pending = self.left_queued().await;
        loop {
            let first = if pending.is_empty() {
                tokio::select! {
                    g = gaps.recv() => match g {
                        Some(g) => Some(g),
                        None => return,
                    },
                    () = stop.cancelled() => return,
                }
            } else {
                None
            };
            pending.extend(self.take_up(&mut gaps, first).await);
            let mut queue = batches(std::mem::take(&mut pending), self.batch_size()).into_iter();
            let Some(batch) = queue.next() else { continue };
            pending = queue.flat_map(|b| b.gaps()).collect();
            // The recovery's requests take turns with the provider's jobs for permits.
            let work = crate::net::in_lane(
                &format!("stream {} recovery", self.stream),
                self.work(&batch),
            );
            tokio::pin!(work);
            loop {
                tokio::select! {
                    biased;
                    () = stop.cancelled() => {
                        // Everything in `pending` is recorded already; what is still in
                        // the channel is recorded now, for the next start.
                        self.take_up(&mut gaps, None).await;
                        return;
                    }
                    () = &mut work => break,
                    // Gaps that come while a request is out are recorded at once, so that
                    // even a kill does not lose them.
                    Some(g) = gaps.recv() => pending.extend(self.take_up(&mut gaps, Some(g)).await),
                }
            }
        }
    }

    /// `first` and every gap waiting in the channel, recorded in the store before recovery
    /// works on them.
    async fn take_up(
        &self,
        gaps: &mut mpsc::UnboundedReceiver<Gap>,
        first: Option<Gap>,
    ) -> Vec<Gap> {
        let mut fresh: Vec<Gap> = first.into_iter().collect();
        while let Ok(g) = gaps.try_recv() {
            fresh.push(g);
        }
        self.record(&fresh).await;
        fresh
    }

    async fn work(&self, batch: &Batch) {
        let symbols = batch.symbols.join(",");
        let n = batch.symbols.len() as u64;
        match self.recover(batch).await {
            Ok((provider, bars)) => {
                self.metrics.stream_recovery(&self.stream, "ok", n);
                tracing::info!(stream = %self.stream, symbols = %symbols, from = %batch.start, to = %batch.end, provider = %provider, bars, "gap recovered");
                // Forgotten by the writer once the bars before this are committed.
                let _ = self.writer.send(Item::Recovered(batch.gaps())).await;
            }
            Err(errors) => {
                self.metrics.stream_recovery(&self.stream, "failed", n);
                tracing::warn!(stream = %self.stream, symbols = %symbols, from = %batch.start, to = %batch.end, errors = %errors.join("; "), "gap not recovered; it stays queued for the stream's next start, and a poll job with a lookback window can heal it too");
            }
        }
    }

    /// The gaps an earlier run of this stream recorded and did not recover. One older than
    /// the reconnect horizon is the poll and backfill jobs' to fill, as after a reconnect.
    async fn left_queued(&self) -> Vec<Gap> {
        let read = self.store.queued_gaps(&self.stream, self.timeframe);
        let all = match tokio::time::timeout(LOAD_TIMEOUT, read).await {
            Ok(Ok(all)) => all,
            Ok(Err(e)) => {
                tracing::warn!(stream = %self.stream, error = %e, "cannot read the gap recoveries left queued; they wait for the next start");
                return Vec::new();
            }
            Err(_) => {
                tracing::warn!(stream = %self.stream, "the store did not list the gap recoveries left queued in time; they wait for the next start");
                return Vec::new();
            }
        };
        let horizon = Utc::now() - super::session::RECONNECT_RECOVERY_HORIZON;
        let (keep, old): (Vec<Gap>, Vec<Gap>) = all.into_iter().partition(|g| g.end > horizon);
        if !old.is_empty() {
            tracing::warn!(stream = %self.stream, gaps = old.len(), "queued gap recoveries older than the recovery horizon are dropped; poll and backfill jobs fill them");
            if let Err(e) = self
                .store
                .forget_gaps(&self.stream, self.timeframe, &old)
                .await
            {
                tracing::warn!(stream = %self.stream, error = %e, "cannot drop old queued gaps");
            }
        }
        if !keep.is_empty() {
            tracing::info!(stream = %self.stream, gaps = keep.len(), "resuming gap recoveries left queued by an earlier run");
        }
        keep
    }

    /// Records gaps taken up; a store that cannot take them does not stop the recovery.
    async fn record(&self, gaps: &[Gap]) {
        if gaps.is_empty() {
            return;
        }
        if let Err(e) = self
            .store
            .queue_gaps(&self.stream, self.timeframe, gaps)
            .await
        {
            tracing::warn!(stream = %self.stream, gaps = gaps.len(), error = %e, "cannot record queued gap recoveries; a stop before they finish loses them");
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
        let failover = Failover {
            registry: &self.registry,
            providers: &self.providers,
            timeframe: self.timeframe,
        };
        for serving in failover.serving() {
            let plugin = match serving {
                Ok(p) => p,
                Err(why) => {
                    errors.push(why);
                    continue;
                }
            };
            match self.fetch(&plugin, gap).await {
                Ok(n) => return Ok((plugin.name().to_owned(), n)),
                Err(e) => errors.push(format!("{}: {e}", plugin.name())),
            }
        }
        Err(errors)
    }

    async fn fetch(&self, plugin: &Plugin, gap: &Batch) -> Result<usize, String> {
        let classes = plugin.info().classes();
        let source = Source {
            provider: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
        };
        let req = BarsRequest {
            symbols: gap.symbols.clone(),
            timeframe: self.timeframe,
            start: gap.start,
            end: gap.end,
            cursor: None,
        };
        let mut pages = plugin.pages(&req, MAX_PAGES);
        let mut sent = 0;
        loop {
            let (record, bars) = match pages.next().await {
                Next::Page { record, bars } => (record, bars),
                Next::End(End::Complete) => return Ok(sent),
                Next::End(end) => return Err(end.to_string()),
            };
            let answer = super::writer::answer_id();
            for bar in bars {
                // Only closed bars of the gap: the stream delivers the rest.
                if bar.complete
                    && bar.start >= gap.start
                    && bar.start < gap.end
                    && gap.symbols.contains(&bar.symbol)
                {
                    let item = Item::Bar {
                        classes,
                        adjustment: record
                            .adjusted
                            .get(&bar.symbol)
                            .copied()
                            .unwrap_or_default(),
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
        }
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
