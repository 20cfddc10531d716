//! Host-side validation shared by every plugin (docs/design.md §5): hard rules quarantine a bar with
//! every reason; soft rules keep the bar and record a quality event beside it.
//!
//! [`Validator::validate`] is a pure function of the bars, the request, the recent history
//! and the clock, so every rule is tested without a store or a plugin.

pub mod actions;
mod align;
pub mod calendar;
mod decimal;
pub mod gaps;
mod hard;
pub mod instruments;
pub mod policy;
mod reason;
pub mod series;
pub mod spike;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use actions::{ActionsExpect, CheckedActions, check_actions};
pub use calendar::Calendar;
pub use decimal::{DecimalError, parse as parse_decimal};
pub use hard::Expect;
pub use instruments::{CheckedInstruments, check_instruments};
pub use policy::{Policies, Policy};
pub use reason::{EventKind, QualityEvent, Reason, ReasonCode};
pub use series::{CheckedSeries, Observation, SeriesExpect, check_series};

use crate::domain::{Bar, ClassSet, RawBar, Timeframe};

/// What was asked of the provider: the hard rules check the answer against it, and gaps
/// are looked for inside its range.
#[derive(Debug, Clone)]
pub struct Request {
    pub symbols: Vec<String>,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The classes the serving plugin declares: with its spelling, they decide the class
    /// of a symbol `[validation.instruments]` does not name (`Policies::class_of`).
    pub classes: ClassSet,
}

/// A bar that broke hard rules, as the plugin sent it, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    pub raw: RawBar,
    pub reasons: Vec<Reason>,
}

/// The result of validating one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub accepted: Vec<Bar>,
    pub rejected: Vec<Rejected>,
    pub events: Vec<QualityEvent>,
}

/// Closes of the bars just before a batch, oldest first, per symbol: the spike rule's
/// reference when a batch starts a series or holds only a few bars.
pub type History = HashMap<String, Vec<Decimal>>;

/// Where to look for gaps, per symbol: `[from, to)`. A symbol not named is not searched:
/// its bars are a slice of a series whose neighbours are judged elsewhere (a stream
/// segment, or a page whose series goes on in the next page).
pub type GapRanges = HashMap<String, (DateTime<Utc>, DateTime<Utc>)>;

impl Request {
    /// Every symbol searched over the whole request: the batch is the whole answer.
    pub fn whole(&self) -> GapRanges {
        self.symbols
            .iter()
            .map(|s| (s.clone(), (self.start, self.end)))
            .collect()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Validator {
    policies: Policies,
}

impl Validator {
    pub fn new(policies: Policies) -> Self {
        Validator { policies }
    }

    pub fn policy(&self, symbol: &str, classes: ClassSet) -> Policy {
        self.policies.resolve(symbol, classes)
    }

    /// One bar judged alone (its own interval as the range): `Some` with every reason if it
    /// breaks a hard rule. The stream asks before it counts a bar as delivered, so that a
    /// bar headed for quarantine leaves its interval to be recovered.
    pub fn reject_alone(
        &self,
        bar: &RawBar,
        classes: ClassSet,
        now: DateTime<Utc>,
    ) -> Option<Rejected> {
        let symbols = [bar.symbol.clone()];
        let expect = Expect {
            symbols: &symbols,
            timeframe: bar.timeframe,
            start: bar.start,
            end: bar.timeframe.end_of(bar.start),
            now,
        };
        let reasons = hard::check(bar, &expect, &self.policy(&bar.symbol, classes)).err()?;
        Some(Rejected {
            raw: clipped(bar.clone()),
            reasons,
        })
    }

    /// Validates one batch; gaps are looked for only where `gaps` says.
    pub fn validate(
        &self,
        req: &Request,
        raw: Vec<RawBar>,
        history: &History,
        now: DateTime<Utc>,
        gaps: &GapRanges,
    ) -> Outcome {
        let mut policies = PolicyCache {
            validator: self,
            classes: req.classes,
            map: HashMap::new(),
        };
        let expect = Expect {
            symbols: &req.symbols,
            timeframe: req.timeframe,
            start: req.start,
            end: req.end,
            now,
        };
        let mut out = Outcome::default();
        // Per symbol: the indices of its bars in `accepted`, and start → index to collapse
        // duplicates within the batch. Keyed once per symbol, not once per bar.
        let mut series: HashMap<String, Series> = HashMap::new();
        let mut conflicts: HashSet<(String, DateTime<Utc>)> = HashSet::new();
        for bar in raw {
            let policy = policies.get(&bar.symbol);
            let ok = match hard::check(&bar, &expect, policy) {
                Err(reasons) => {
                    out.rejected.push(Rejected {
                        raw: clipped(bar),
                        reasons,
                    });
                    continue;
                }
                Ok(ok) => ok,
            };
            if !series.contains_key(&ok.symbol) {
                series.insert(ok.symbol.clone(), Series::default());
            }
            let s = series.get_mut(&ok.symbol).expect("inserted above");
            match s.by_start.get(&ok.start) {
                // A second identical copy says nothing new.
                Some(&i) if out.accepted[i] == ok => {}
                Some(_) => {
                    // Two different bars for one key in one answer: which is right is
                    // not ours to guess, so every copy goes to quarantine.
                    conflicts.insert((ok.symbol.clone(), ok.start));
                    out.rejected.push(duplicate(clipped(bar)));
                }
                None => {
                    s.by_start.insert(ok.start, out.accepted.len());
                    s.indices.push(out.accepted.len());
                    out.accepted.push(ok);
                }
            }
        }
        if !conflicts.is_empty() {
            let (kept, dropped): (Vec<Bar>, Vec<Bar>) = std::mem::take(&mut out.accepted)
                .into_iter()
                .partition(|b| !conflicts.contains(&(b.symbol.clone(), b.start)));
            out.rejected
                .extend(dropped.iter().map(|b| duplicate(RawBar::from(b))));
            series.clear();
            for (i, b) in kept.iter().enumerate() {
                series.entry(b.symbol.clone()).or_default().indices.push(i);
            }
            out.accepted = kept;
        }
        let mut symbols: Vec<&String> = series.keys().collect();
        symbols.sort();
        for symbol in symbols {
            let mut bars: Vec<&Bar> = series[symbol]
                .indices
                .iter()
                .map(|&i| &out.accepted[i])
                .collect();
            bars.sort_by_key(|b| b.start);
            let prior = history.get(symbol).map(Vec::as_slice).unwrap_or_default();
            soft_rules(policies.get(symbol), &bars, prior, &mut out.events);
        }
        for symbol in &req.symbols {
            let Some(&(from, to)) = gaps.get(symbol) else {
                continue;
            };
            {
                let policy = policies.get(symbol);
                let mut starts: Vec<DateTime<Utc>> = series
                    .get(symbol)
                    .map(|s| s.indices.iter().map(|&i| out.accepted[i].start).collect())
                    .unwrap_or_default();
                starts.sort();
                for g in gaps::find(
                    policy.calendar,
                    req.timeframe,
                    &starts,
                    from,
                    to,
                    now,
                    policy.stale_after_intervals,
                ) {
                    out.events.push(QualityEvent {
                        kind: EventKind::Gap,
                        symbol: symbol.clone(),
                        timeframe: req.timeframe,
                        start: Some(g.from),
                        end: Some(g.to),
                        detail: format!(
                            "the market was open from {} to {} and no bar came",
                            g.from, g.to
                        ),
                    });
                }
            }
        }
        out
    }
}

/// The bars of one symbol within a batch.
#[derive(Default)]
struct Series {
    indices: Vec<usize>,
    by_start: HashMap<DateTime<Utc>, usize>,
}

/// Policies resolved once per symbol of a batch.
struct PolicyCache<'a> {
    validator: &'a Validator,
    classes: ClassSet,
    map: HashMap<String, Policy>,
}

impl PolicyCache<'_> {
    fn get(&mut self, symbol: &str) -> &Policy {
        if !self.map.contains_key(symbol) {
            let p = self.validator.policy(symbol, self.classes);
            self.map.insert(symbol.to_owned(), p);
        }
        &self.map[symbol]
    }
}

/// Longest text quarantine keeps of each field of a rejected bar: enough to see what was
/// wrong, not a way for a plugin to fill the disk.
pub const MAX_RAW_FIELD: usize = 256;

/// `raw` with every text field cut to [`MAX_RAW_FIELD`].
fn clipped(mut raw: RawBar) -> RawBar {
    let cut = |s: &mut String| {
        if s.len() > MAX_RAW_FIELD {
            *s = crate::text::clip(s, MAX_RAW_FIELD).into_owned();
        }
    };
    cut(&mut raw.symbol);
    // Scaled values are at most 30 characters; only text can be long.
    for f in [&mut raw.open, &mut raw.high, &mut raw.low, &mut raw.close] {
        f.text_mut().map(cut);
    }
    for f in [&mut raw.volume, &mut raw.vwap].into_iter().flatten() {
        f.text_mut().map(cut);
    }
    raw
}

/// A copy of a bar whose key another, different copy in the same answer also claims.
fn duplicate(raw: RawBar) -> Rejected {
    let detail = format!(
        "the answer held different bars for {} at {}; every copy is kept here",
        raw.symbol, raw.start
    );
    Rejected {
        raw,
        reasons: vec![Reason::new(ReasonCode::KeyDuplicate, detail)],
    }
}

fn event(kind: EventKind, bar: &Bar, detail: String) -> QualityEvent {
    QualityEvent {
        kind,
        symbol: bar.symbol.clone(),
        timeframe: bar.timeframe,
        start: Some(bar.start),
        end: None,
        detail,
    }
}

/// Zero volume, robust z-score spikes and the max-jump cap, over one series in time order.
fn soft_rules(policy: &Policy, bars: &[&Bar], prior: &[Decimal], events: &mut Vec<QualityEvent>) {
    let mut window = spike::Window::new(policy.spike_window);
    let mut prev: Option<Decimal> = None;
    for &close in prior {
        if let Some(r) = prev.and_then(|p| spike::log_return(p, close)) {
            window.push(r);
        }
        prev = Some(close);
    }
    for bar in bars {
        if policy.volume_expected && bar.volume.is_some_and(|v| v.is_zero()) {
            events.push(event(
                EventKind::ZeroVolume,
                bar,
                "zero volume for an instrument that trades volume".into(),
            ));
        }
        if let Some(p) = prev {
            if let Some(limit) = policy.max_jump {
                if spike::exceeds_jump(p, bar.close, limit) {
                    events.push(event(
                        EventKind::SpikeMaxJump,
                        bar,
                        format!(
                            "close moved from {p} to {}, more than {limit} of the previous close",
                            bar.close
                        ),
                    ));
                }
            }
            if let Some(r) = spike::log_return(p, bar.close) {
                if let Some(z) = policy.spike_z {
                    if window.len() >= policy.spike_min_history {
                        if let Some(s) = window.score(r, z) {
                            events.push(event(
                                EventKind::SpikeZScore,
                                bar,
                                format!(
                                    "log return {} has a robust z-score of {} (limit {z}) against the last {} returns",
                                    spike::fixed_to_decimal(s.log_return),
                                    Decimal::new(s.z_hundredths as i64, 2),
                                    window.len()
                                ),
                            ));
                        }
                    }
                }
                window.push(r);
            }
        }
        prev = Some(bar.close);
    }
}

/// The stale-series event for a series whose newest stored bar starts at `last`, if it is
/// stale at `now`.
pub fn staleness(
    policy: &Policy,
    symbol: &str,
    tf: Timeframe,
    last: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<QualityEvent> {
    gaps::is_stale(policy.calendar, tf, last, now, policy.stale_after_intervals).then(|| {
        QualityEvent {
            kind: EventKind::Stale,
            symbol: symbol.to_owned(),
            timeframe: tf,
            start: Some(tf.end_of(last)),
            end: Some(now),
            detail: format!("no bar after {last} although the market has been open since"),
        }
    })
}

#[cfg(test)]
mod tests;
