//! What goes into the store and what comes back out of it.

use std::collections::BTreeMap;
use std::ops::AddAssign;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use mdhost_core::domain::{
    Adjustment, AssetClass, Bar, Instrument, QuotaPeriod, SeriesMeta, Timeframe,
};
use mdhost_core::validate::actions::{Dividend, Split};
use mdhost_core::validate::{QualityEvent, Rejected};

use crate::observation::Observation;

/// Who produced a batch: the plugin's name and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub provider: String,
    pub version: String,
}

/// Where a paginated fetch of one window has got to: stored with the bars of the page it
/// follows, so a killed backfill resumes at the exact page. It says nothing about what is
/// covered; [`Coverage`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub job: String,
    /// The symbols the job requests together, joined with commas.
    pub symbol: String,
    pub timeframe: Timeframe,
    /// `"<provider> <cursor>"` for the next page; `None` once the window's last page is in.
    pub cursor: Option<String>,
    /// The window the cursor belongs to.
    pub covered_from: DateTime<Utc>,
    pub covered_to: DateTime<Utc>,
}

/// An interval `[start, end)` of one symbol that a stream did not deliver, queued for
/// recovery through `fetch-bars`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StreamGap {
    pub symbol: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Requests counted against one quota period of one provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub provider: String,
    pub period: QuotaPeriod,
    /// Start of the UTC day or month.
    pub window_start: DateTime<Utc>,
    pub used: u64,
    /// The limit the last count was held to.
    pub quota: u64,
    pub updated_at: DateTime<Utc>,
}

/// A time range `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Span {
    pub fn new(from: DateTime<Utc>, to: DateTime<Utc>) -> Self {
        Span { from, to }
    }

    /// Whether one of `spans` holds all of `self`.
    pub fn within(&self, spans: &[Span]) -> bool {
        spans.iter().any(|s| s.from <= self.from && self.to <= s.to)
    }

    /// `spans` with every overlapping or touching pair joined, in order.
    pub fn merged(mut spans: Vec<Span>) -> Vec<Span> {
        spans.sort();
        let mut out: Vec<Span> = Vec::with_capacity(spans.len());
        for s in spans {
            match out.last_mut() {
                Some(last) if s.from <= last.to => last.to = last.to.max(s.to),
                _ => out.push(s),
            }
        }
        out
    }
}

/// A window of one series whose bars are committed: added to the job's coverage in the
/// transaction that commits the window's last page, joined with the ranges it touches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub job: String,
    pub symbol: String,
    pub timeframe: Timeframe,
    pub span: Span,
}

/// A window of one series that a run could not fetch or commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncovered {
    pub symbol: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One validated batch, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteBatch {
    pub source: Source,
    /// Asset class per symbol, kept with freshness so staleness can use its calendar.
    /// Symbols not listed are taken as equities.
    #[serde(default)]
    pub asset_classes: BTreeMap<String, AssetClass>,
    /// What the provider had adjusted each symbol's bars for; symbols not listed are raw.
    /// Stored with each bar written, beside its `ingested_at`.
    #[serde(default)]
    pub adjusted: BTreeMap<String, Adjustment>,
    pub bars: Vec<Bar>,
    #[serde(default)]
    pub rejected: Vec<Rejected>,
    #[serde(default)]
    pub events: Vec<QualityEvent>,
    #[serde(default)]
    pub checkpoint: Option<Checkpoint>,
    #[serde(default)]
    pub coverage: Vec<Coverage>,
    /// When the batch was received; also the freshness `last_success`. Kept in the batch
    /// so that a spooled batch replays with the time it really arrived.
    pub received_at: DateTime<Utc>,
    /// The job run that produced the batch, if one did: published with what it writes.
    #[serde(default)]
    pub run: Option<i64>,
}

/// One quarantine row of a batch: the last copy of a rejected bar, its reason codes as
/// the row's key stores them, and how many copies the batch held.
#[derive(Debug, Clone, Copy)]
pub struct QuarantineRow<'a> {
    pub rejected: &'a Rejected,
    pub seen: i64,
}

impl QuarantineRow<'_> {
    /// The reason codes, in the validator's order, comma-separated: with the bar's key,
    /// what makes two quarantine rows one.
    pub fn codes(&self) -> String {
        let codes: Vec<&str> = self
            .rejected
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect();
        codes.join(",")
    }
}

impl WriteBatch {
    /// The rejected bars, one row per key and set of reasons (the last copy, counted).
    pub fn quarantine_rows(&self) -> Vec<QuarantineRow<'_>> {
        let mut rows: Vec<QuarantineRow<'_>> = Vec::with_capacity(self.rejected.len());
        let mut at: std::collections::HashMap<(&str, Timeframe, DateTime<Utc>, String), usize> =
            std::collections::HashMap::new();
        for r in &self.rejected {
            let row = QuarantineRow {
                rejected: r,
                seen: 1,
            };
            let key = (
                r.raw.symbol.as_str(),
                r.raw.timeframe,
                r.raw.start,
                row.codes(),
            );
            match at.get(&key) {
                Some(&i) => {
                    rows[i] = QuarantineRow {
                        rejected: r,
                        seen: rows[i].seen + 1,
                    }
                }
                None => {
                    at.insert(key, rows.len());
                    rows.push(row);
                }
            }
        }
        rows
    }

    pub fn new(source: Source, received_at: DateTime<Utc>) -> Self {
        WriteBatch {
            source,
            asset_classes: BTreeMap::new(),
            adjusted: BTreeMap::new(),
            bars: Vec::new(),
            rejected: Vec::new(),
            events: Vec::new(),
            checkpoint: None,
            coverage: Vec::new(),
            received_at,
            run: None,
        }
    }

    pub fn asset_class(&self, symbol: &str) -> AssetClass {
        self.asset_classes
            .get(symbol)
            .copied()
            .unwrap_or(AssetClass::Equity)
    }

    /// `adjusted` as the JSON object the backends' writes read each row's basis from
    /// (`{"AAPL":"splits"}`; a symbol not in it is raw), or `None` (SQL NULL, nothing to
    /// look up per row) when every symbol is raw.
    pub fn adjusted_json(&self) -> Option<String> {
        (!self.adjusted.is_empty())
            .then(|| serde_json::to_string(&self.adjusted).expect("a map of strings serializes"))
    }
}

/// What a write did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteSummary {
    pub inserted: u64,
    /// Updated in place: a forming bar that moved on or completed, or a revision.
    pub updated: u64,
    /// Identical to what was stored, or another source's bar left as it was.
    pub unchanged: u64,
    pub revisions: u64,
    pub disagreements: u64,
    pub quarantined: u64,
    pub events: u64,
    /// The store was unreachable and the batch went to the local spool.
    pub spooled: bool,
}

impl AddAssign for WriteSummary {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.revisions += o.revisions;
        self.disagreements += o.disagreements;
        self.quarantined += o.quarantined;
        self.events += o.events;
        self.spooled |= o.spooled;
    }
}

/// A series that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub source: String,
    pub asset_class: AssetClass,
    pub error: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStart {
    pub job: String,
    pub provider: String,
    pub plugin_version: String,
    pub started_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    /// Every symbol succeeded.
    Ok,
    /// Some symbols failed.
    Partial,
    /// Nothing succeeded; the run will be retried.
    Failed,
    /// Stopped on request (SIGTERM, SIGINT, shutdown) before the run was done: what it
    /// committed is kept, the rest is left for the next run.
    Stopped,
    /// The process stopped before the run finished (killed, crashed, power lost). Set when
    /// the next run of the same job begins; that run resumes from the checkpoints.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Ok => "ok",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            RunStatus::Running,
            RunStatus::Ok,
            RunStatus::Partial,
            RunStatus::Failed,
            RunStatus::Stopped,
            RunStatus::Interrupted,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }

    /// The status that the symbol counts imply.
    pub fn from_counts(ok: u64, failed: u64) -> Self {
        match (ok, failed) {
            (_, 0) => RunStatus::Ok,
            (0, _) => RunStatus::Failed,
            _ => RunStatus::Partial,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunOutcome {
    pub finished_at: DateTime<Utc>,
    pub status: RunStatus,
    /// Why the run ended with this status, in one sentence (none when it is `ok`).
    #[serde(default)]
    pub reason: Option<String>,
    pub symbols_ok: u64,
    pub symbols_failed: u64,
    /// Bars the provider sent.
    #[serde(default)]
    pub bars_fetched: u64,
    /// Bars that changed the table: new, or updated in place (a spooled batch counts whole).
    pub bars_written: u64,
    /// Bars quarantined.
    pub bars_rejected: u64,
    /// Bars that left the table as it was: identical to the stored bar, another source's
    /// bar that is kept, or a second copy within one page. fetched = written + rejected +
    /// skipped.
    #[serde(default)]
    pub bars_skipped: u64,
    pub errors: Vec<String>,
    /// Windows the run could not fetch or commit; the next run fetches them.
    #[serde(default)]
    pub uncovered: Vec<Uncovered>,
}

/// A stored bar with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredBar {
    #[serde(flatten)]
    pub bar: Bar,
    pub source: String,
    pub plugin_version: String,
    pub ingested_at: DateTime<Utc>,
    /// What the provider had restated the bar for, as of `ingested_at`.
    #[serde(default)]
    pub adjustment: Adjustment,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Freshness {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub source: String,
    pub asset_class: AssetClass,
    pub last_bar_start: Option<DateTime<Utc>>,
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

/// A quarantined bar: the plugin's raw values and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantined {
    pub id: i64,
    pub symbol: String,
    pub timeframe: String,
    pub start: DateTime<Utc>,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: Option<String>,
    pub vwap: Option<String>,
    pub trades: Option<String>,
    pub complete: bool,
    pub reasons: Vec<mdhost_core::validate::Reason>,
    /// How many times this bar came with these reasons (the row keeps the last copy).
    pub seen: i64,
    pub source: String,
    pub plugin_version: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: i64,
    pub kind: String,
    pub symbol: String,
    pub timeframe: String,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub source: String,
    /// Free text, or JSON (old and new values) for revisions and disagreements.
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRow {
    pub id: i64,
    #[serde(flatten)]
    pub start: RunStart,
    pub status: RunStatus,
    pub finished_at: Option<DateTime<Utc>>,
    pub symbols_ok: u64,
    pub symbols_failed: u64,
    pub bars_written: u64,
    pub bars_rejected: u64,
    pub errors: Vec<String>,
    pub reason: Option<String>,
    pub bars_fetched: u64,
    pub bars_skipped: u64,
    pub uncovered: Vec<Uncovered>,
}

impl WriteBatch {
    /// Symbols of this batch whose bars were all quarantined: their fetch "succeeded" but gave
    /// nothing usable, which freshness records as an error.
    pub fn quarantine_only_failures(&self) -> Vec<Failure> {
        let batch = self;
        // Nearly every batch has no rejected bar: then there is nothing to look up.
        if batch.rejected.is_empty() {
            return Vec::new();
        }
        let with_bars: std::collections::HashSet<(&str, Timeframe)> = batch
            .bars
            .iter()
            .map(|b| (b.symbol.as_str(), b.timeframe))
            .collect();
        let mut out: BTreeMap<(String, Timeframe), Vec<&'static str>> = BTreeMap::new();
        for r in &batch.rejected {
            if !with_bars.contains(&(r.raw.symbol.as_str(), r.raw.timeframe)) {
                let codes = out
                    .entry((r.raw.symbol.clone(), r.raw.timeframe))
                    .or_default();
                for reason in &r.reasons {
                    if !codes.contains(&reason.code.as_str()) {
                        codes.push(reason.code.as_str());
                    }
                }
            }
        }
        out.into_iter()
            .map(|((symbol, timeframe), codes)| Failure {
                asset_class: batch.asset_class(&symbol),
                symbol,
                timeframe,
                source: batch.source.provider.clone(),
                error: format!("every bar quarantined: {}", codes.join(", ")),
                at: batch.received_at,
            })
            .collect()
    }
}

/// One validated page of corporate actions, written in one transaction (spooled whole
/// while the store is unreachable, like a bar batch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionsBatch {
    pub source: Source,
    pub splits: Vec<Split>,
    pub dividends: Vec<Dividend>,
    /// Actions that failed validation, with their reasons: quarantined.
    pub rejected: Vec<mdhost_core::validate::actions::Rejected>,
    /// When the batch was received: `ingested_at` of what it writes.
    pub received_at: DateTime<Utc>,
    /// The job run that produced the batch, if one did: published with what it writes.
    #[serde(default)]
    pub run: Option<i64>,
}

impl ActionsBatch {
    pub fn new(source: Source, received_at: DateTime<Utc>) -> Self {
        ActionsBatch {
            source,
            splits: Vec::new(),
            dividends: Vec::new(),
            rejected: Vec::new(),
            received_at,
            run: None,
        }
    }
}

/// What a write of actions did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionsSummary {
    pub inserted: u64,
    /// Changed by their own source: updated in place, each logged as an `action.revised`
    /// quality event.
    pub revised: u64,
    /// Identical to what the source had stored.
    pub unchanged: u64,
    pub quarantined: u64,
    /// The store was unreachable: the batch is spooled and lands when it is back.
    #[serde(default)]
    pub spooled: bool,
}

impl AddAssign for ActionsSummary {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.revised += o.revised;
        self.unchanged += o.unchanged;
        self.quarantined += o.quarantined;
        self.spooled |= o.spooled;
    }
}

/// A stored split or dividend with its provenance. Every source keeps its own row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAction<A> {
    #[serde(flatten)]
    pub action: A,
    pub source: String,
    pub plugin_version: String,
    pub ingested_at: DateTime<Utc>,
}

pub type StoredSplit = StoredAction<Split>;
pub type StoredDividend = StoredAction<Dividend>;

/// A quarantined split or dividend: the plugin's raw action and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedAction {
    pub id: i64,
    /// `split` or `dividend`.
    pub action: String,
    pub symbol: String,
    /// As the plugin sent it (text: quarantine keeps dates no column type would hold).
    pub ex_date: String,
    /// The dividend's kind; `None` for a split.
    pub kind: Option<String>,
    /// The raw action as JSON (`RawSplit` or `RawDividend`, values as the plugin's text).
    pub raw: serde_json::Value,
    pub reasons: Vec<mdhost_core::validate::Reason>,
    /// How many times this action came with these reasons (the row keeps the last copy).
    pub seen: i64,
    pub source: String,
    pub plugin_version: String,
    pub received_at: DateTime<Utc>,
}

/// One page of one economic series, written in one transaction (spooled whole while the
/// store is unreachable).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesBatch {
    pub source: Source,
    pub series_id: String,
    /// The series' description, when the page carried one: kept per source, replaced when
    /// it changes.
    pub meta: Option<SeriesMeta>,
    /// Every one of the series `series_id`; a write refuses a batch that mixes series.
    pub observations: Vec<Observation>,
    /// When the batch was received: `ingested_at` of what it writes.
    pub received_at: DateTime<Utc>,
    /// The job run that produced the batch, if one did: published with what it writes.
    #[serde(default)]
    pub run: Option<i64>,
}

impl SeriesBatch {
    pub fn new(source: Source, series_id: impl Into<String>, received_at: DateTime<Utc>) -> Self {
        SeriesBatch {
            source,
            series_id: series_id.into(),
            meta: None,
            observations: Vec::new(),
            received_at,
            run: None,
        }
    }

    /// The observations of a series' answer that passed the host's rules
    /// (`validate::check_series`), as `source`'s batch; what failed them is the caller's
    /// to quarantine.
    pub fn from_checked(
        source: Source,
        checked: &mdhost_core::validate::CheckedSeries,
        received_at: DateTime<Utc>,
    ) -> Self {
        let observations = checked
            .observations
            .iter()
            .map(|o| Observation {
                series_id: checked.series_id.clone(),
                date: o.date,
                value: o.value,
                realtime_start: o.realtime_start,
                realtime_end: o.realtime_end,
            })
            .collect();
        SeriesBatch {
            source,
            series_id: checked.series_id.clone(),
            meta: checked.meta.clone(),
            observations,
            received_at,
            run: None,
        }
    }
}

/// What a write of a series did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesSummary {
    pub inserted: u64,
    /// Values their own source changed (a number to another, or to or from missing):
    /// updated in place, each logged as an `observation.revised` quality event.
    pub revised: u64,
    /// The same value whose vintage the source closed (a later vintage superseded it):
    /// updated in place without an event, since no value changed.
    pub updated: u64,
    /// Identical to what the source had stored.
    pub unchanged: u64,
    /// The series' description was new or changed, and written.
    pub meta_written: bool,
    /// The store was unreachable: the batch is spooled and lands when it is back.
    #[serde(default)]
    pub spooled: bool,
}

impl AddAssign for SeriesSummary {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.revised += o.revised;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.meta_written |= o.meta_written;
        self.spooled |= o.spooled;
    }
}

/// A stored row (an observation, an instrument) with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stored<T> {
    #[serde(flatten)]
    pub item: T,
    pub source: String,
    pub plugin_version: String,
    pub ingested_at: DateTime<Utc>,
}

pub type StoredObservation = Stored<Observation>;
pub type StoredInstrument = Stored<Instrument>;

/// A series' description as one source gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredSeriesMeta {
    pub series_id: String,
    #[serde(flatten)]
    pub meta: SeriesMeta,
    pub source: String,
    pub plugin_version: String,
    pub ingested_at: DateTime<Utc>,
}

/// A provider's whole instrument listing (every page of it), written in one transaction
/// (spooled whole while the store is unreachable): what it no longer lists goes inactive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentsBatch {
    pub source: Source,
    pub instruments: Vec<Instrument>,
    /// When the batch was received: `ingested_at` of what it writes.
    pub received_at: DateTime<Utc>,
}

/// What a write of instruments did. Nothing is ever deleted: an instrument missing from a
/// page stays as it was last listed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentsSummary {
    pub inserted: u64,
    /// Changed by their own source: updated in place, each logged as an
    /// `instrument.revised` quality event.
    pub revised: u64,
    pub unchanged: u64,
    /// The store was unreachable: the batch is spooled and lands when it is back.
    #[serde(default)]
    pub spooled: bool,
}

impl AddAssign for InstrumentsSummary {
    fn add_assign(&mut self, o: Self) {
        self.inserted += o.inserted;
        self.revised += o.revised;
        self.unchanged += o.unchanged;
        self.spooled |= o.spooled;
    }
}

/// An economic observation or instrument that failed the host's rules, to quarantine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRecord {
    /// `observation` or `instrument`.
    pub kind: String,
    /// What it is about: `"<series id> <date> <realtime start or ->"`, or the provider's
    /// symbol of an instrument.
    pub key: String,
    /// The record as the plugin sent it.
    pub raw: serde_json::Value,
    pub reasons: Vec<mdhost_core::validate::Reason>,
}

/// A quarantined observation or instrument: the plugin's record and every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedRecord {
    pub id: i64,
    pub kind: String,
    pub key: String,
    pub raw: serde_json::Value,
    pub reasons: Vec<mdhost_core::validate::Reason>,
    /// How many times this record came with these reasons (the row keeps the last copy).
    pub seen: i64,
    pub source: String,
    pub plugin_version: String,
    pub received_at: DateTime<Utc>,
}

/// A key of the read API as stored: its SHA-256 (hex), never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub name: String,
    pub hash: String,
    /// `admin`, or `read:` and comma-separated symbol patterns (`AAPL`, `BTC/*`, `*`).
    pub scope: String,
    /// Requests it may make per minute.
    pub per_minute: u32,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}
