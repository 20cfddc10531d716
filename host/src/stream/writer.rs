//! The stream write path: bars of every connection of one stream go through validation
//! and the store in small batches, flushed when `flush_bars` wait or the oldest has waited
//! `flush_interval`. Each committed bar's latency (commit − bar end) is observed; one above
//! ten seconds is logged. An unreachable store is retried (the service's store spools
//! outages); a batch the store keeps refusing is reported and dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tokio::sync::mpsc;

use crate::domain::{Adjustment, ClassSet, RawBar, Timeframe};
use crate::ingest::validated_batch;
use crate::metrics::Metrics;
use crate::store::{Source, Store, WriteBatch};
use crate::validate::{History, QualityEvent, Rejected, Request, Validator};

/// A bar older than this at commit (after its interval ended) is logged as late.
pub const LATENCY_WARNING: Duration = Duration::from_secs(10);

/// What sessions and gap recovery hand to the writer.
#[derive(Debug)]
pub enum Item {
    Bar {
        bar: RawBar,
        source: Source,
        /// The classes the plugin declares (`Policies::class_of` reads each symbol by them).
        classes: ClassSet,
        /// When the message carrying it arrived (`None` for a recovered bar).
        received: Option<Instant>,
        /// The plugin answer it came in (see [`answer_id`]).
        answer: u64,
        /// What the provider had adjusted it for: a recovered bar comes from a REST page
        /// that may be split-adjusted; a live one is as traded.
        adjustment: Adjustment,
    },
    /// A bar the stream judged broken before counting it as delivered: quarantined as is
    /// (its interval is recovered; the recovered bar must not meet it in validation).
    Rejected {
        rejected: Rejected,
        source: Source,
        classes: ClassSet,
    },
    /// A quality event of the stream itself (a stale symbol).
    Event {
        event: QualityEvent,
        source: Source,
        classes: ClassSet,
    },
    /// Gaps whose recovered bars were all sent before this: forgotten in the store once
    /// those are committed.
    Recovered(Vec<super::recover::Gap>),
}

/// A fresh id for one plugin answer (a stream message, a recovery page). Within one
/// answer, two different bars for one key are a conflict the validator quarantines; across
/// answers, the later bar revises the earlier one, as a stream's correction does.
pub fn answer_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// Drops every bar that a later answer in `items` revises (same source and key), keeping
/// order; copies within one answer all stay, for the validator to judge.
fn latest_answers(items: &mut Vec<Item>) {
    type Key = (String, String, String, DateTime<Utc>);
    let mut newest: HashMap<Key, u64> = HashMap::new();
    for item in items.iter() {
        if let Item::Bar {
            bar,
            source,
            answer,
            ..
        } = item
        {
            let key = (
                source.provider.clone(),
                source.version.clone(),
                bar.symbol.clone(),
                bar.start,
            );
            let e = newest.entry(key).or_insert(*answer);
            *e = (*e).max(*answer);
        }
    }
    if newest.len()
        == items
            .iter()
            .filter(|i| matches!(i, Item::Bar { .. }))
            .count()
    {
        return;
    }
    items.retain(|item| match item {
        Item::Bar {
            bar,
            source,
            answer,
            ..
        } => {
            let key = (
                source.provider.clone(),
                source.version.clone(),
                bar.symbol.clone(),
                bar.start,
            );
            newest[&key] == *answer
        }
        Item::Event { .. } | Item::Rejected { .. } | Item::Recovered(_) => true,
    });
}

/// The fixed facts of one stream's write path.
pub struct WriterSpec {
    pub stream: String,
    pub timeframe: Timeframe,
    pub flush_bars: usize,
    pub flush_interval: Duration,
}

/// Handle to a running writer: send items, then drop every sender and await `done`.
pub struct Writer {
    pub tx: mpsc::Sender<Item>,
    pub done: tokio::task::JoinHandle<()>,
}

/// Items a stream may have in flight before its sessions wait for the store.
pub(super) const QUEUE: usize = 20_000;

impl Writer {
    pub fn start(
        spec: WriterSpec,
        store: Arc<dyn Store>,
        validator: Validator,
        metrics: Arc<Metrics>,
    ) -> Writer {
        let (tx, rx) = mpsc::channel(QUEUE);
        let state = State {
            spec,
            store,
            validator,
            metrics,
            history: History::new(),
            seeded: std::collections::HashSet::new(),
            last_warning: None,
        };
        let done = tokio::spawn(state.run(rx));
        Writer { tx, done }
    }
}

struct State {
    spec: WriterSpec,
    store: Arc<dyn Store>,
    validator: Validator,
    metrics: Arc<Metrics>,
    /// Recent closes per symbol, kept across batches so that the spike rule sees the
    /// series without a query per flush.
    history: History,
    /// Symbols whose history was read from the store once.
    seeded: std::collections::HashSet<String>,
    last_warning: Option<Instant>,
}

impl State {
    async fn run(mut self, mut rx: mpsc::Receiver<Item>) {
        let mut buf: Vec<Item> = Vec::with_capacity(self.spec.flush_bars);
        loop {
            let Some(first) = rx.recv().await else { break };
            buf.push(first);
            let deadline = tokio::time::Instant::now() + self.spec.flush_interval;
            let mut open = true;
            while buf.len() < self.spec.flush_bars {
                tokio::select! {
                    item = rx.recv() => match item {
                        Some(i) => buf.push(i),
                        None => { open = false; break; }
                    },
                    () = tokio::time::sleep_until(deadline) => break,
                }
            }
            self.flush(&mut buf).await;
            if !open {
                break;
            }
        }
        self.flush(&mut buf).await;
    }

    /// Writes `buf` (grouped by source), retrying a failed write until it lands.
    async fn flush(&mut self, buf: &mut Vec<Item>) {
        if buf.is_empty() {
            return;
        }
        latest_answers(buf);
        let mut groups: BTreeMap<(String, String), Group> = BTreeMap::new();
        let mut recovered = Vec::new();
        for item in buf.drain(..) {
            let (source, classes, entry) = match item {
                Item::Recovered(gaps) => {
                    recovered.extend(gaps);
                    continue;
                }
                Item::Bar {
                    bar,
                    source,
                    classes,
                    received,
                    answer: _,
                    adjustment,
                } => (source, classes, Entry::Bar(bar, received, adjustment)),
                Item::Event {
                    event,
                    source,
                    classes,
                } => (source, classes, Entry::Event(event)),
                Item::Rejected {
                    rejected,
                    source,
                    classes,
                } => (source, classes, Entry::Rejected(rejected)),
            };
            let g = groups
                .entry((source.provider.clone(), source.version.clone()))
                .or_insert_with(|| Group {
                    source,
                    classes,
                    bars: Vec::new(),
                    received: Vec::new(),
                    adjusted: BTreeMap::new(),
                    events: Vec::new(),
                    rejected: Vec::new(),
                });
            match entry {
                Entry::Bar(bar, received, adjustment) => {
                    if adjustment != Adjustment::Raw {
                        g.adjusted.insert(bar.symbol.clone(), adjustment);
                    }
                    g.bars.push(bar);
                    g.received.push(received);
                }
                Entry::Event(e) => g.events.push(e),
                Entry::Rejected(r) => g.rejected.push(r),
            }
        }
        let mut written = true;
        for g in groups.into_values() {
            written &= self.write_group(g).await;
        }
        // A gap whose bars did not all land stays queued for the stream's next start.
        if written && !recovered.is_empty() {
            let forget = self
                .store
                .forget_gaps(&self.spec.stream, self.spec.timeframe, &recovered);
            if let Err(e) = forget.await {
                tracing::warn!(stream = %self.spec.stream, gaps = recovered.len(), error = %e, "cannot mark recovered gaps done; the next start recovers them once more");
            }
        }
    }

    /// Validates and writes one source's share of a flush; returns whether it was written.
    async fn write_group(&mut self, g: Group) -> bool {
        self.seed_history(&g.bars, g.classes).await;
        let mut symbols: Vec<String> = g.bars.iter().map(|b| b.symbol.clone()).collect();
        symbols.extend(g.events.iter().map(|e| e.symbol.clone()));
        symbols.sort();
        symbols.dedup();
        let (start, end) = span(&g.bars, self.spec.timeframe);
        let req = Request {
            symbols,
            timeframe: self.spec.timeframe,
            start,
            end,
            classes: g.classes,
        };
        // When each live bar's message arrived, by symbol and start (validation may drop
        // or collapse bars, so positions do not survive it).
        let mut received: HashMap<String, HashMap<DateTime<Utc>, Instant>> = HashMap::new();
        for (bar, at) in g.bars.iter().zip(&g.received) {
            if let Some(at) = at {
                received
                    .entry(bar.symbol.clone())
                    .or_default()
                    .insert(bar.start, *at);
            }
        }
        // No gap search: a flush is a slice of a stream, not a whole answer.
        let now = Utc::now();
        let mut batch = validated_batch(
            &self.validator,
            &req,
            &g.source,
            g.bars,
            &self.history,
            Default::default(),
            now,
            &Default::default(),
        );
        batch.adjusted = g.adjusted;
        batch.events.extend(g.events);
        batch.rejected.extend(g.rejected);
        if !self.write(&batch).await {
            return false;
        }
        let committed = Utc::now();
        let done = Instant::now();
        let tf = self.spec.timeframe.to_string();
        self.metrics.bars(
            &g.source.provider,
            &tf,
            batch.bars.len() as u64,
            batch.rejected.len() as u64,
        );
        let mut late = 0usize;
        let mut worst = Duration::ZERO;
        for bar in &batch.bars {
            let after_end = (committed - self.spec.timeframe.end_of(bar.start))
                .to_std()
                .unwrap_or_default();
            let after_receipt = received
                .get(&bar.symbol)
                .and_then(|m| m.get(&bar.start))
                .map(|r| done.duration_since(*r));
            self.metrics
                .stream_bar_committed(&self.spec.stream, after_end, after_receipt);
            if after_receipt.is_some() && after_end > LATENCY_WARNING {
                late += 1;
                worst = worst.max(after_end);
            }
            self.remember(bar.symbol.clone(), g.classes, bar.close);
        }
        // Live bars only (recovered ones are late by nature), at most once a minute.
        if late > 0
            && self
                .last_warning
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!(stream = %self.spec.stream, bars = late, worst = ?worst, "stream bars committed more than {LATENCY_WARNING:?} after their interval ended");
        }
        true
    }

    /// Writes `batch`. An unreachable store is waited out (the service's store spools
    /// outages itself; this covers one that does not); any other error is tried twice more
    /// and then reported, so that one batch the store refuses cannot stall the stream.
    /// Returns whether the batch was written.
    async fn write(&self, batch: &WriteBatch) -> bool {
        let mut wait = Duration::from_millis(200);
        let mut refused = 0;
        loop {
            match self.store.write(batch).await {
                Ok(_) => return true,
                Err(e) if e.is_unavailable() || refused < 2 => {
                    refused += u32::from(!e.is_unavailable());
                    tracing::warn!(stream = %self.spec.stream, bars = batch.bars.len(), error = %e, retry_in = ?wait, "stream write failed; retrying");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
                Err(e) => {
                    tracing::error!(stream = %self.spec.stream, bars = batch.bars.len(), error = %e, "the store refused a stream batch three times; it is dropped (a poll job with a lookback window fetches it again)");
                    return false;
                }
            }
        }
    }

    /// Reads the recent closes of symbols seen for the first time.
    async fn seed_history(&mut self, bars: &[RawBar], classes: ClassSet) {
        for bar in bars {
            if self.seeded.contains(&bar.symbol) {
                continue;
            }
            self.seeded.insert(bar.symbol.clone());
            let n = self.window(&bar.symbol, classes);
            match self
                .store
                .recent_bars(&bar.symbol, self.spec.timeframe, bar.start, n as u32)
                .await
            {
                Ok(recent) => {
                    let closes = recent.into_iter().map(|(_, close)| close).collect();
                    self.history.insert(bar.symbol.clone(), closes);
                }
                Err(e) => {
                    tracing::warn!(stream = %self.spec.stream, symbol = %bar.symbol, error = %e, "cannot read recent closes; the spike rule starts without history")
                }
            }
        }
    }

    fn window(&self, symbol: &str, classes: ClassSet) -> usize {
        self.validator.policy(symbol, classes).spike_window + 1
    }

    fn remember(&mut self, symbol: String, classes: ClassSet, close: rust_decimal::Decimal) {
        let n = self.window(&symbol, classes);
        let closes = self.history.entry(symbol).or_default();
        closes.push(close);
        if closes.len() > n {
            let extra = closes.len() - n;
            closes.drain(..extra);
        }
    }
}

enum Entry {
    Bar(RawBar, Option<Instant>, Adjustment),
    Event(QualityEvent),
    Rejected(Rejected),
}

struct Group {
    source: Source,
    classes: ClassSet,
    bars: Vec<RawBar>,
    received: Vec<Option<Instant>>,
    /// The symbols whose bars the provider had adjusted (raw ones not listed).
    adjusted: BTreeMap<String, Adjustment>,
    events: Vec<QualityEvent>,
    rejected: Vec<Rejected>,
}

/// The range the bars of a batch cover (an empty batch covers nothing).
fn span(bars: &[RawBar], timeframe: Timeframe) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = bars.iter().map(|b| b.start).min();
    let end = bars.iter().map(|b| timeframe.end_of(b.start)).max();
    match (start, end) {
        (Some(s), Some(e)) => (s, e),
        _ => {
            let now = Utc::now();
            (now, now)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AssetClass;

    fn item(start: &str, close: &str, answer: u64) -> Item {
        Item::Bar {
            bar: RawBar {
                symbol: "BTC/USD".into(),
                timeframe: "1m".parse().unwrap(),
                start: start.parse().unwrap(),
                open: close.into(),
                high: close.into(),
                low: close.into(),
                close: close.into(),
                volume: None,
                vwap: None,
                trades: None,
                complete: true,
            },
            source: Source {
                provider: "p".into(),
                version: "1".into(),
            },
            classes: ClassSet::of(AssetClass::Crypto),
            received: None,
            answer,
            adjustment: Adjustment::Raw,
        }
    }

    /// (start minute, close, answer) in arrival order → the closes left for validation.
    fn check(items: &[(u32, &str, u64)], expected: &[&str]) {
        let mut buf: Vec<Item> = items
            .iter()
            .map(|(m, c, a)| item(&format!("2025-07-12T00:{m:02}:00Z"), c, *a))
            .collect();
        latest_answers(&mut buf);
        let got: Vec<String> = buf
            .iter()
            .map(|i| match i {
                Item::Bar { bar, .. } => bar.close.to_string(),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(got, expected, "{items:?}");
    }

    #[test]
    fn a_later_answer_revises_a_bar_and_copies_within_one_answer_stay_for_the_validator() {
        check(&[(0, "1", 1), (1, "2", 1)], &["1", "2"]);
        // A correction in a later message replaces the earlier bar.
        check(&[(0, "1", 1), (0, "1.5", 2), (1, "2", 2)], &["1.5", "2"]);
        // Two bars for one minute in one message: both go on, to be quarantined.
        check(&[(0, "1", 3), (0, "9", 3)], &["1", "9"]);
        // …unless a later message settles the minute.
        check(&[(0, "1", 3), (0, "9", 3), (0, "2", 4)], &["2"]);
    }
}
