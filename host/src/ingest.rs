//! From a plugin's answer to the store: look up each series' recent history, validate,
//! and write bars, quarantine, events, checkpoint and coverage in one batch. Used by job
//! runs (page by page) and `plugin call --store` (one whole answer).
//!
//! A page is judged against the bars just before it, wherever they came from (an earlier
//! page of the same answer, an earlier run): the spike rule sees the closes before the
//! page's first bar, and the gap search starts where the stored series ends. A page that is
//! not the last of its answer is searched only up to its own last bar, so a series split
//! over pages yields exactly the events of the same series in one page.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};

use crate::domain::{Adjustment, RawBar};
use crate::store::{Checkpoint, Coverage, Source, Store, StoreError, WriteBatch, WriteSummary};
use crate::validate::{GapRanges, History, Request, Validator};

/// One page of an answer to `req`.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    pub req: &'a Request,
    pub source: &'a Source,
    /// The answer's last page: series end at `req.end`, so gaps are searched up to it.
    pub last: bool,
    /// What the provider had adjusted each symbol's bars for (raw ones not listed).
    pub adjusted: &'a BTreeMap<String, Adjustment>,
    /// The job run fetching it, if one is (published with what it writes).
    pub run: Option<i64>,
}

/// What commits with a page besides its bars.
#[derive(Debug, Clone, Default)]
pub struct Commit {
    /// Where the next page of this window starts.
    pub checkpoint: Option<Checkpoint>,
    /// Windows this page completes.
    pub coverage: Vec<Coverage>,
}

/// How many earlier closes the spike rule sees per series (its window plus one).
fn history_len(validator: &Validator, req: &Request, symbol: &str) -> u32 {
    let p = validator.policy(symbol, req.classes);
    u32::try_from(p.spike_window + 1).unwrap_or(u32::MAX)
}

/// Validates `raw` against `req` and `history` and assembles the batch that writes the
/// result (bars, quarantine, events, asset classes, `commit`) in one transaction. `gaps`
/// says where each series is searched for gaps.
#[allow(clippy::too_many_arguments)]
pub fn validated_batch(
    validator: &Validator,
    req: &Request,
    source: &Source,
    raw: Vec<RawBar>,
    history: &History,
    commit: Commit,
    now: DateTime<Utc>,
    gaps: &GapRanges,
) -> WriteBatch {
    let outcome = validator.validate(req, raw, history, now, gaps);
    let asset_classes: BTreeMap<String, _> = req
        .symbols
        .iter()
        .map(|s| (s.clone(), validator.policy(s, req.classes).asset_class))
        .collect();
    WriteBatch {
        run: None,
        source: source.clone(),
        asset_classes,
        adjusted: BTreeMap::new(),
        bars: outcome.accepted,
        rejected: outcome.rejected,
        events: outcome.events,
        checkpoint: commit.checkpoint,
        coverage: commit.coverage,
        received_at: now,
    }
}

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub write: WriteSummary,
}

impl Ingested {
    /// Accepted bars that left the table as it was (identical, another source's, or a
    /// second copy in the page); none are known when the batch was spooled.
    pub fn skipped(&self) -> u64 {
        let stored = if self.write.spooled {
            self.accepted
        } else {
            self.write.inserted + self.write.updated
        };
        self.received
            .saturating_sub(self.rejected)
            .saturating_sub(stored)
    }

    /// Bars that changed the table (a spooled batch counts whole).
    pub fn written(&self) -> u64 {
        if self.write.spooled {
            self.accepted
        } else {
            self.write.inserted + self.write.updated
        }
    }
}

impl std::ops::AddAssign for Ingested {
    fn add_assign(&mut self, o: Self) {
        self.received += o.received;
        self.accepted += o.accepted;
        self.rejected += o.rejected;
        self.write += o.write;
    }
}

/// Validates one page of the answer to `page.req` against the stored bars before it and
/// writes it with `commit` in one transaction.
pub async fn ingest(
    store: &dyn Store,
    validator: &Validator,
    page: Page<'_>,
    raw: Vec<RawBar>,
    commit: Commit,
    now: DateTime<Utc>,
) -> Result<Ingested, StoreError> {
    let req = page.req;
    // Each series' first and last start in this page.
    let mut bounds: HashMap<&str, (DateTime<Utc>, DateTime<Utc>)> = HashMap::new();
    for b in &raw {
        let e = bounds
            .entry(b.symbol.as_str())
            .or_insert((b.start, b.start));
        e.0 = e.0.min(b.start);
        e.1 = e.1.max(b.start);
    }
    let mut history = History::new();
    let mut gaps = GapRanges::new();
    for symbol in &req.symbols {
        let here = bounds.get(symbol.as_str()).copied();
        if here.is_none() && !page.last {
            // Nothing of this series here: it is judged with the page that has it.
            continue;
        }
        let (before, n) = match here {
            Some((first, _)) => (
                first.clamp(req.start, req.end),
                history_len(validator, req, symbol),
            ),
            None => (req.end, 1),
        };
        let recent = store.recent_bars(symbol, req.timeframe, before, n).await?;
        let from = recent.last().map_or(req.start, |(start, _)| {
            req.timeframe.end_of(*start).max(req.start)
        });
        let to = match here {
            Some((_, last)) if !page.last => req.timeframe.end_of(last).min(req.end),
            _ => req.end,
        };
        gaps.insert(symbol.clone(), (from, to));
        if here.is_some() {
            history.insert(
                symbol.clone(),
                recent.into_iter().map(|(_, close)| close).collect(),
            );
        }
    }
    let received = raw.len() as u64;
    let mut batch = validated_batch(
        validator,
        req,
        page.source,
        raw,
        &history,
        commit,
        now,
        &gaps,
    );
    batch.adjusted = page.adjusted.clone();
    batch.run = page.run;
    let write = store.write(&batch).await?;
    Ok(Ingested {
        received,
        accepted: batch.bars.len() as u64,
        rejected: batch.rejected.len() as u64,
        write,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AssetClass, ClassSet};
    use crate::store::SqliteStore;

    fn raw(start: &str, close: &str) -> RawBar {
        RawBar {
            symbol: "BTC/USD".into(),
            timeframe: "1m".parse().unwrap(),
            start: start.parse().unwrap(),
            open: close.into(),
            high: close.into(),
            low: close.into(),
            close: close.into(),
            volume: Some("1".into()),
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    /// A plugin answer lands as stored bars, quarantined bars and events, in one write,
    /// and replaying it changes nothing.
    #[tokio::test]
    async fn an_answer_is_validated_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let req = Request {
            symbols: vec!["BTC/USD".into()],
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-12T00:00:00Z".parse().unwrap(),
            end: "2025-07-12T00:04:00Z".parse().unwrap(),
            classes: ClassSet::of(AssetClass::Crypto),
        };
        let answer = vec![
            raw("2025-07-12T00:00:00Z", "60000"),
            raw("2025-07-12T00:01:00Z", "-1"),
            raw("2025-07-12T00:03:00Z", "60010.5"),
        ];
        let source = Source {
            provider: "binance".into(),
            version: "0.1.0".into(),
        };
        let now = "2025-07-13T00:00:00Z".parse().unwrap();
        let v = Validator::default();
        let page = Page {
            req: &req,
            source: &source,
            last: true,
            adjusted: &BTreeMap::new(),
            run: None,
        };
        let got = ingest(&store, &v, page, answer.clone(), Commit::default(), now)
            .await
            .unwrap();
        assert_eq!((got.received, got.accepted, got.rejected), (3, 2, 1));
        assert_eq!((got.write.inserted, got.write.quarantined), (2, 1));
        // The quarantined minute leaves a gap in a market that never closes.
        let events = store.events(None, 10).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["gap.session"]);
        assert_eq!(
            store.freshness().await.unwrap()[0].asset_class,
            AssetClass::Crypto
        );
        let again = ingest(&store, &v, page, answer, Commit::default(), now)
            .await
            .unwrap();
        assert_eq!((again.write.inserted, again.write.unchanged), (0, 2));
    }

    /// The property behind "no false alarms at page boundaries": a series written page by
    /// page, wherever the pages are cut, raises exactly the events of the same series
    /// written in one page, and a clean series raises none.
    mod pages {
        use super::*;
        use proptest::prelude::*;

        const SYMBOLS: [&str; 2] = ["BTC/USD", "ETH/USD"];
        const T0: i64 = 1_752_278_400; // 2025-07-12T00:00:00Z

        /// A smooth minute series per symbol, without the `holes` and with `spikes`
        /// multiplied by 1.6. Closes are in cents; the steps follow a triangle wave of
        /// `period` (so returns are spread evenly, with no outlier a real spike rule
        /// could object to).
        fn series(n: usize, wave: (i64, i64), holes: &[usize], spikes: &[usize]) -> Vec<RawBar> {
            let (period, phase) = wave;
            let mut out = Vec::new();
            for (k, symbol) in SYMBOLS.iter().enumerate() {
                let mut cents: i64 = 6_000_000 + 100_000 * k as i64;
                for i in 0..n {
                    let at = (i as i64 + phase + 3 * k as i64) % (2 * period);
                    cents += 3 * (at - period) + 1;
                    if holes.contains(&i) {
                        continue;
                    }
                    let c = if spikes.contains(&i) {
                        cents * 16 / 10
                    } else {
                        cents
                    };
                    let price = format!("{}.{:02}", c / 100, c % 100);
                    let start = DateTime::from_timestamp(T0 + 60 * i as i64, 0).unwrap();
                    out.push(RawBar {
                        symbol: (*symbol).into(),
                        start,
                        ..raw("2025-07-12T00:00:00Z", &price)
                    });
                }
            }
            out
        }

        type Events = Vec<(String, String, Option<DateTime<Utc>>, Option<DateTime<Utc>>)>;

        /// Writes `bars` in pages cut at `cuts` into a fresh store; returns its events.
        async fn events(bars: &[RawBar], cuts: &[usize], n: usize) -> Events {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("t.db").display());
            let store = SqliteStore::connect(&url).await.unwrap();
            let req = Request {
                symbols: SYMBOLS.iter().map(|s| s.to_string()).collect(),
                timeframe: "1m".parse().unwrap(),
                start: DateTime::from_timestamp(T0, 0).unwrap(),
                end: DateTime::from_timestamp(T0 + 60 * n as i64, 0).unwrap(),
                classes: ClassSet::of(AssetClass::Crypto),
            };
            let source = Source {
                provider: "p".into(),
                version: "1".into(),
            };
            let now = "2025-07-20T00:00:00Z".parse().unwrap();
            let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (bars.len() + 1)).collect();
            bounds.push(0);
            bounds.push(bars.len());
            bounds.sort();
            bounds.dedup();
            let pages: Vec<&[RawBar]> = bounds.windows(2).map(|w| &bars[w[0]..w[1]]).collect();
            // A provider may also end with an empty page.
            let pages = if cuts.len() % 2 == 1 {
                [pages, vec![&bars[..0]]].concat()
            } else {
                pages
            };
            let v = Validator::default();
            for (i, p) in pages.iter().enumerate() {
                let page = Page {
                    req: &req,
                    source: &source,
                    last: i + 1 == pages.len(),
                    adjusted: &BTreeMap::new(),
                    run: None,
                };
                ingest(&store, &v, page, p.to_vec(), Commit::default(), now)
                    .await
                    .unwrap();
            }
            let mut got: Events = store
                .events(None, 10_000)
                .await
                .unwrap()
                .into_iter()
                .map(|e| (e.kind, e.symbol, e.start, e.end))
                .collect();
            got.sort();
            got
        }

        fn run<T>(f: impl std::future::Future<Output = T>) -> T {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(f)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(24))]

            #[test]
            fn pages_raise_the_events_of_the_whole_series_and_a_clean_one_none(
                n in 60usize..240,
                wave in (2i64..8, 0i64..16),
                cuts in proptest::collection::vec(0usize..1000, 0..8),
                holes in proptest::collection::vec(0usize..240, 0..3),
                spikes in proptest::collection::vec(30usize..240, 0..2),
            ) {
                let clean = series(n, wave, &[], &[]);
                let whole = run(events(&clean, &[], n));
                prop_assert_eq!(&whole, &Events::new(), "a clean series raises nothing");
                prop_assert_eq!(run(events(&clean, &cuts, n)), whole);

                let faulty = series(n, wave, &holes, &spikes);
                let whole = run(events(&faulty, &[], n));
                let paged = run(events(&faulty, &cuts, n));
                prop_assert_eq!(&paged, &whole);
                // Each hole inside the series is exactly one gap of one minute per symbol.
                let minute = |i: usize| DateTime::from_timestamp(T0 + 60 * i as i64, 0);
                let mut want_gaps: Vec<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> = Vec::new();
                let mut hs: Vec<usize> = holes.iter().copied().filter(|h| *h < n).collect();
                hs.sort();
                hs.dedup();
                let mut i = 0;
                while i < hs.len() {
                    let mut j = i;
                    while j + 1 < hs.len() && hs[j + 1] == hs[j] + 1 {
                        j += 1;
                    }
                    want_gaps.push((minute(hs[i]), minute(hs[j] + 1)));
                    i = j + 1;
                }
                for symbol in SYMBOLS {
                    let gaps: Vec<(Option<DateTime<Utc>>, Option<DateTime<Utc>>)> = paged
                        .iter()
                        .filter(|e| e.0 == "gap.session" && e.1 == symbol)
                        .map(|e| (e.2, e.3))
                        .collect();
                    prop_assert_eq!(&gaps, &want_gaps, "{}", symbol);
                    for s in spikes.iter().filter(|s| **s < n && !hs.contains(s)) {
                        prop_assert!(
                            paged.iter().any(|e| e.0.starts_with("spike.") && e.1 == symbol && e.2 == minute(*s)),
                            "spike at minute {} of {}: {:?}", s, symbol, paged
                        );
                    }
                }
            }
        }
    }
}
