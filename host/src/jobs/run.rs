//! One run of a job: its windows, its symbol batches, provider failover for each request,
//! page-by-page ingest with checkpoints and coverage, and the run's summary line and
//! `runs` row.
//!
//! A failing symbol never stops its batch: a symbol-level error on a multi-symbol request
//! is retried symbol by symbol to isolate it, and a provider-level failure (a trap, a
//! deadline, 5xx after retries, unauthorized) moves the request to the next provider.
//!
//! Nothing is marked done that is not committed: a window of a series is added to the
//! job's coverage in the transaction of its last page, a backfill skips only the windows
//! its coverage holds, and whatever a run leaves uncovered is named in its `runs` row and
//! fetched by the next run.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::account::{SymbolAccount, Tally, summary_line, verdict};
use super::book::RunBook;
use super::plan::{self, Window};
use super::status::RunSummary;
use crate::config::{JobConfig, JobData, JobKind};
use crate::domain::{BarsRequest, ClassSet, ProviderError};
use crate::failover::Failover;
use crate::ingest::{Commit, Page, ingest};
use crate::metrics::Metrics;
use crate::net::breaker::Breakers;
use crate::reload::Registry;
use crate::runtime::pages::{End, Next};
use crate::runtime::{Plugin, RunBudget};
use crate::store::{Checkpoint, Coverage, RunOutcome, RunStart, RunStatus, Source, Span, Store};
use crate::validate::{Request, Validator};

/// A provider whose pages never end is cut off here (and the request fails over).
pub const MAX_PAGES: u32 = 10_000;

/// Once a stop is requested, how long the page in flight (its fetch, then its write) may
/// take before it is abandoned. An abandoned page commits nothing, so its window stays
/// uncovered and the next run fetches it.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// What a run needs from the service.
#[derive(Clone)]
pub struct JobContext {
    pub registry: Arc<Registry>,
    pub store: Arc<dyn Store>,
    pub metrics: Arc<Metrics>,
    pub breakers: Arc<Breakers>,
    pub slots: Arc<Slots>,
}

/// Hooks for a progress display (the backfill command's bar). Units are symbol-windows:
/// a run of `s` symbols over `w` windows has `s × w` units.
pub trait Progress: Send + Sync {
    fn start(&self, _units: u64) {}
    fn page(&self, _bars: u64) {}
    fn advance(&self, _units: u64) {}
}

/// No display.
pub struct Quiet;
impl Progress for Quiet {}

/// Calls of each plugin in flight at once, across jobs (`[plugins.<name>] concurrency`).
#[derive(Default)]
pub struct Slots {
    map: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

impl Slots {
    /// `None` when the plugin is not limited.
    fn get(&self, provider: &str, limit: Option<u32>) -> Option<Arc<Semaphore>> {
        let limit = limit?;
        let mut map = self.map.lock();
        let entry = map
            .entry(provider.to_owned())
            .or_insert_with(|| (limit, Arc::new(Semaphore::new(limit as usize))));
        // A changed setting takes a new semaphore; calls holding the old one finish.
        if entry.0 != limit {
            *entry = (limit, Arc::new(Semaphore::new(limit as usize)));
        }
        Some(entry.1.clone())
    }
}

/// Why a request did not complete with one provider.
#[derive(Debug)]
enum Fail {
    /// The provider is at fault: fail over, and count it against the breaker.
    Provider(String),
    /// These symbols are the problem (unknown, unsupported, a bad payload): isolate them,
    /// then try the next provider without blaming this one.
    Symbols(String),
    /// The store refused the write or a read (after its own retries and spool): the next
    /// provider would fare no better.
    Store(String),
    /// A stop was requested: the pages committed so far are kept.
    Stopped,
}

/// The `runs` row of a run of `job` starting at `now`, named after its first provider.
pub(super) fn run_start(ctx: &JobContext, job: &JobConfig, now: DateTime<Utc>) -> RunStart {
    let primary = &job.providers[0];
    RunStart {
        job: job.name.clone(),
        provider: primary.clone(),
        plugin_version: ctx
            .registry
            .get(primary)
            .map_or_else(|| "missing".to_owned(), |p| p.version().to_owned()),
        started_at: now,
    }
}

/// A run of `job` at `now` that could not run at all: recorded failed with `reason`, and
/// `line` logged and kept as its summary.
pub(super) async fn not_run(
    ctx: &JobContext,
    job: &JobConfig,
    now: DateTime<Utc>,
    reason: String,
    line: String,
) -> RunSummary {
    let book = RunBook::open(&*ctx.store, run_start(ctx, job, now)).await;
    tracing::warn!(job = %job.name, status = "failed", "{line}");
    let summary = RunSummary::uncounted(
        &job.name,
        vec![],
        now,
        RunStatus::Failed,
        Some(reason),
        line,
    );
    let run_id = book.close(&summary.outcome()).await;
    ctx.metrics.run(&job.name, RunStatus::Failed.as_str());
    RunSummary { run_id, ..summary }
}

/// One run of `job`, as of `now`. Never fails as a whole: what went wrong is in the
/// summary (and the `runs` row).
pub async fn run_job(
    ctx: &JobContext,
    job: &JobConfig,
    validator: &Validator,
    now: DateTime<Utc>,
    cancel: &CancellationToken,
    progress: &dyn Progress,
) -> RunSummary {
    // A job whose symbols come from a stored listing reads it afresh at every run.
    let selected;
    let job = match &job.symbols_from {
        None => job,
        Some(sel) => match super::select::symbols(&*ctx.store, sel).await {
            Ok(symbols) => {
                selected = JobConfig {
                    symbols,
                    ..job.clone()
                };
                &selected
            }
            Err(reason) => return super::select::failed(ctx, job, now, reason).await,
        },
    };
    if job.data != JobData::Bars {
        let lane = format!("job {}", job.name);
        return crate::net::in_lane(&lane, super::gathered::run(ctx, job, now, cancel)).await;
    }
    let book = RunBook::open(&*ctx.store, run_start(ctx, job, now)).await;
    let span = tracing::info_span!("run", job = %job.name, run = book.id().unwrap_or(-1));
    let runner = Runner {
        ctx,
        book: &book,
        job,
        validator,
        cancel,
        progress,
        used: Mutex::default(),
        spent: Mutex::default(),
    };
    // The job's requests take turns with other jobs' and streams' for the provider's
    // permits, however many it has in flight.
    let lane = format!("job {}", job.name);
    let run = async {
        let windows = match &job.kind {
            JobKind::Poll { lookback, .. } => {
                vec![plan::poll_window(now, job.timeframe, *lookback)]
            }
            JobKind::Backfill { from, to } => plan::backfill_windows(*from, *to, job.timeframe),
        };
        progress.start((job.symbols.len() * windows.len()) as u64);
        let batches = plan::batches(&job.symbols, job.batch_size);
        let results: Vec<(BTreeMap<String, SymbolAccount>, Tally)> =
            futures_util::stream::iter(batches)
                .map(|b| runner.batch(b, &windows))
                .buffer_unordered(job.concurrency)
                .collect()
                .await;
        let mut symbols: BTreeMap<String, SymbolAccount> = BTreeMap::new();
        let mut tally = Tally::default();
        for (s, t) in results {
            symbols.extend(s);
            tally += t;
        }
        let summary = runner.finish(&symbols, &windows, tally).await;
        if summary.status == RunStatus::Ok {
            tracing::info!(status = summary.status.as_str(), "{}", summary.line);
        } else {
            tracing::warn!(status = summary.status.as_str(), "{}", summary.line);
        }
        summary
    }
    .instrument(span);
    crate::net::in_lane(&lane, run).await
}

struct Runner<'a> {
    ctx: &'a JobContext,
    book: &'a RunBook<'a>,
    job: &'a JobConfig,
    validator: &'a Validator,
    cancel: &'a CancellationToken,
    progress: &'a dyn Progress,
    /// Providers that served at least one request, in first-use order.
    used: Mutex<Vec<String>>,
    /// What each plugin has cost this run, against its `run_*` budget.
    spent: Mutex<HashMap<String, Spent>>,
}

/// Pages, bars and quarantined bars one plugin has cost a run.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    pages: u64,
    bars: u64,
    quarantined: u64,
}

impl Spent {
    /// The budget this spending has used up, said the way the operator configures it.
    fn over(&self, b: &RunBudget) -> Option<String> {
        let hit = [
            (self.pages, b.pages, "pages", "run_pages"),
            (self.bars, b.bars, "bars", "run_bars"),
            (
                self.quarantined,
                b.quarantine,
                "quarantined bars",
                "run_quarantine",
            ),
        ]
        .into_iter()
        .find(|(spent, limit, _, _)| spent >= limit)?;
        let (_, limit, what, key) = hit;
        Some(format!(
            "run budget spent: {limit} {what} this run (`{key}`); the plugin is not called again until the next run"
        ))
    }
}

impl Runner<'_> {
    /// The job whose coverage and checkpoints this run reads and advances: the job
    /// itself, or for the run of a cluster's work item (`<job>#<n>`) the job it is part
    /// of, so progress carries over whichever host, or a single one, does the work.
    fn progress_job(&self) -> &str {
        super::dispatch::job_of(&self.job.name)
    }

    /// Every window of one batch, each request failing over along the provider list.
    async fn batch(
        &self,
        batch: Vec<String>,
        windows: &[Window],
    ) -> (BTreeMap<String, SymbolAccount>, Tally) {
        let mut acc: BTreeMap<String, SymbolAccount> = batch
            .iter()
            .map(|s| (s.clone(), SymbolAccount::default()))
            .collect();
        let mut tally = Tally::default();
        if let Err(e) = self.load_coverage(&mut acc).await {
            for a in acc.values_mut() {
                a.error(format!("store: cannot read the job's coverage: {e}"));
            }
            return (acc, tally);
        }
        for window in windows {
            if self.cancel.is_cancelled() {
                break;
            }
            let span = Span::new(window.start, window.end);
            // Series whose window an earlier run committed are not asked for again.
            let mut pending: Vec<String> = batch
                .iter()
                .filter(|s| !span.within(&acc[*s].done))
                .cloned()
                .collect();
            let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
            // Symbols the store failed for: another provider would meet the same store.
            let mut store_failed: Vec<String> = Vec::new();
            let mut stopped = false;
            let failover = Failover {
                registry: &self.ctx.registry,
                providers: &self.job.providers,
                timeframe: self.job.timeframe,
            };
            for serving in failover.serving() {
                if pending.is_empty() || stopped {
                    break;
                }
                let plugin = match serving {
                    Ok(p) => p,
                    Err(why) => {
                        note(&mut notes, &pending, why);
                        continue;
                    }
                };
                let mut failed = Vec::new();
                let max = plugin.info().max_symbols_per_request;
                for req in plan::requests(&pending, max) {
                    if stopped {
                        failed.extend(req);
                        continue;
                    }
                    match self
                        .with_isolation(&plugin, &req, *window, &mut notes, &mut tally)
                        .await
                    {
                        Ok(still_failed) => failed.extend(still_failed),
                        Err(Fail::Stopped) => {
                            stopped = true;
                            failed.extend(req);
                        }
                        Err(Fail::Store(m)) => {
                            note(&mut notes, &req, m);
                            store_failed.extend(req);
                        }
                        Err(Fail::Provider(m) | Fail::Symbols(m)) => {
                            note(&mut notes, &req, m);
                            failed.extend(req);
                        }
                    }
                }
                pending = failed;
            }
            pending.extend(store_failed);
            for s in &batch {
                if !pending.contains(s) && !span.within(&acc[s].done) {
                    // Neither done before nor left over: this run committed the window.
                    acc.get_mut(s).expect("batch symbol").done.push(span);
                }
            }
            self.progress.advance(batch.len() as u64);
            // Symbols left over for a reason other than the stop itself.
            let failed: Vec<String> = pending
                .into_iter()
                .filter(|s| notes.contains_key(s))
                .collect();
            for s in &failed {
                let a = acc.get_mut(s).expect("batch symbol");
                for m in &notes[s] {
                    a.error(m.clone());
                }
            }
            self.record_failures(&acc, &failed).await;
            if stopped {
                break;
            }
        }
        (acc, tally)
    }

    /// What earlier runs of a backfill committed, per symbol (polls start from nothing).
    async fn load_coverage(
        &self,
        acc: &mut BTreeMap<String, SymbolAccount>,
    ) -> Result<(), crate::store::StoreError> {
        if !matches!(self.job.kind, JobKind::Backfill { .. }) {
            return Ok(());
        }
        for (symbol, a) in acc.iter_mut() {
            a.done = self
                .ctx
                .store
                .coverage(self.progress_job(), symbol, self.job.timeframe)
                .await?;
        }
        Ok(())
    }

    /// One request with one provider; a symbol-level failure of a multi-symbol request is
    /// retried symbol by symbol. Returns the symbols that still failed.
    async fn with_isolation(
        &self,
        plugin: &Arc<Plugin>,
        symbols: &[String],
        window: Window,
        notes: &mut BTreeMap<String, Vec<String>>,
        tally: &mut Tally,
    ) -> Result<Vec<String>, Fail> {
        match self.request(plugin, symbols, window, tally).await {
            Ok(()) => Ok(Vec::new()),
            Err(Fail::Symbols(m)) if symbols.len() > 1 => {
                tracing::info!(provider = plugin.name(), error = %m, "isolating the symbols of a failed request");
                let mut failed = Vec::new();
                for s in symbols {
                    match self
                        .request(plugin, std::slice::from_ref(s), window, tally)
                        .await
                    {
                        Ok(()) => {}
                        Err(Fail::Provider(m) | Fail::Symbols(m)) => {
                            note(notes, std::slice::from_ref(s), m);
                            failed.push(s.clone());
                        }
                        Err(other) => return Err(other),
                    }
                }
                Ok(failed)
            }
            Err(e) => Err(e),
        }
    }

    /// Every page of one request, each written with its checkpoint as it arrives; the last
    /// also adds the window to each symbol's coverage. Bars of pages committed before a
    /// failure are counted in `tally` all the same.
    async fn request(
        &self,
        plugin: &Arc<Plugin>,
        symbols: &[String],
        window: Window,
        tally: &mut Tally,
    ) -> Result<(), Fail> {
        let name = plugin.name();
        if let Err(open) = self.ctx.breakers.allow(name) {
            return Err(Fail::Provider(format!("{name}: {open}")));
        }
        // A spent quota: the window is left to the first run after it renews (or to the
        // next provider), and the run says until when.
        if let Some(until) = plugin.quota_exhausted_until(Utc::now()) {
            let e = ProviderError::QuotaExhausted(Some(until));
            return Err(Fail::Provider(format!("{name}: {e}")));
        }
        let key = symbols.join(",");
        let tf = self.job.timeframe;
        let backfill = matches!(self.job.kind, JobKind::Backfill { .. });
        let mut req = BarsRequest {
            symbols: symbols.to_vec(),
            timeframe: tf,
            start: window.start,
            end: window.end,
            cursor: None,
        };
        if backfill {
            let cp = self
                .ctx
                .store
                .checkpoint(self.progress_job(), &key, tf, window.start)
                .await
                .map_err(|e| Fail::Store(format!("store: {e}")))?;
            req.cursor = resume_cursor(cp.as_ref(), window, name);
        }
        self.used_provider(name);
        let vreq = Request {
            symbols: req.symbols.clone(),
            timeframe: tf,
            start: window.start,
            end: window.end,
            classes: plugin.info().classes(),
        };
        let source = Source {
            provider: name.to_owned(),
            version: plugin.version().to_owned(),
        };
        let limit = self.ctx.registry.config().plugin(name).concurrency;
        let slots = self.ctx.slots.get(name, limit);
        let budget = self.ctx.registry.config().plugin(name).run_budget;
        let mut pages = plugin.pages(&req, MAX_PAGES);
        loop {
            self.within_budget(name, &budget)?;
            let permit = match &slots {
                Some(s) => Some(s.clone().acquire_owned().await.expect("never closed")),
                None => None,
            };
            let span = tracing::info_span!("call", provider = name, version = plugin.version());
            let answer = within_grace(self.cancel, pages.next().instrument(span))
                .await
                .ok_or(Fail::Stopped)?;
            drop(permit);
            let (record, bars) = match answer {
                Next::Page { record, bars } => (record, bars),
                Next::End(End::Complete) => {
                    self.ctx.breakers.success(name);
                    return Ok(());
                }
                Next::End(End::Provider(e)) => return Err(self.classify(name, e)),
                Next::End(end) => {
                    // The sandbox failed the call, or pagination would not end.
                    self.ctx.breakers.failure(name);
                    return Err(Fail::Provider(format!("{name}: {end}")));
                }
            };
            let next = record.next_cursor;
            let commit = self.commit(backfill, &key, window, name, symbols, next.as_deref());
            let page_ref = Page {
                req: &vreq,
                source: &source,
                last: next.is_none(),
                adjusted: &record.adjusted,
                run: self.book.id(),
            };
            let written = ingest(
                &*self.ctx.store,
                self.validator,
                page_ref,
                bars,
                commit,
                Utc::now(),
            );
            let got = within_grace(self.cancel, written)
                .await
                .ok_or(Fail::Stopped)?
                .map_err(|e| Fail::Store(format!("store: {e}")))?;
            let t = Tally::page(&got);
            self.ctx
                .metrics
                .bars(name, &tf.to_string(), t.stored, t.rejected);
            self.progress.page(t.stored);
            *tally += t;
            let page_cost = Spent {
                pages: 1,
                bars: t.fetched,
                quarantined: t.rejected,
            };
            self.spend(name, page_cost);
            if next.is_none() {
                // Settled here, not at the next pull: a budget used up by this last page
                // must not fail a request that is complete.
                self.ctx.breakers.success(name);
                return Ok(());
            }
            if self.cancel.is_cancelled() {
                return Err(Fail::Stopped);
            }
        }
    }

    /// What commits with a page of `window`: a backfill's next cursor, and with the last
    /// page the window's coverage for every symbol of the request.
    fn commit(
        &self,
        backfill: bool,
        key: &str,
        window: Window,
        provider: &str,
        symbols: &[String],
        next: Option<&str>,
    ) -> Commit {
        if !backfill {
            return Commit::default();
        }
        let checkpoint = Checkpoint {
            job: self.progress_job().to_owned(),
            symbol: key.to_owned(),
            timeframe: self.job.timeframe,
            cursor: next.map(|c| format!("{provider} {c}")),
            covered_from: window.start,
            covered_to: window.end,
        };
        let coverage = match next {
            Some(_) => Vec::new(),
            None => symbols
                .iter()
                .map(|s| Coverage {
                    job: self.progress_job().to_owned(),
                    symbol: s.clone(),
                    timeframe: self.job.timeframe,
                    span: Span::new(window.start, window.end),
                })
                .collect(),
        };
        Commit {
            checkpoint: Some(checkpoint),
            coverage,
        }
    }

    /// Adds one page's cost to what `name` has spent this run.
    fn spend(&self, name: &str, cost: Spent) {
        let mut spent = self.spent.lock();
        let s = spent.entry(name.to_owned()).or_default();
        s.pages += cost.pages;
        s.bars += cost.bars;
        s.quarantined += cost.quarantined;
    }

    /// Fails once `name` has used up a budget of this run: checked before every page.
    fn within_budget(&self, name: &str, budget: &RunBudget) -> Result<(), Fail> {
        let spent = self.spent.lock();
        match spent.get(name).and_then(|s| s.over(budget)) {
            Some(m) => Err(Fail::Provider(format!("{name}: {m}"))),
            None => Ok(()),
        }
    }

    fn classify(&self, name: &str, e: ProviderError) -> Fail {
        let msg = format!("{name}: {e}");
        if e.blames_provider() {
            self.ctx.breakers.failure(name);
        }
        match e {
            ProviderError::UnknownSymbol(_)
            | ProviderError::Unsupported(_)
            | ProviderError::BadResponse(_) => Fail::Symbols(msg),
            // A spent quota fails over like a provider fault, without counting as one.
            _ => Fail::Provider(msg),
        }
    }

    fn used_provider(&self, name: &str) {
        let mut used = self.used.lock();
        if !used.iter().any(|u| u == name) {
            used.push(name.to_owned());
        }
    }

    /// Freshness `last_error` for every symbol no provider could serve.
    async fn record_failures(&self, acc: &BTreeMap<String, SymbolAccount>, pending: &[String]) {
        let first = &self.job.providers[0];
        let declared = self
            .ctx
            .registry
            .get(first)
            .map_or(ClassSet::EMPTY, |p| p.info().classes());
        for s in pending {
            let error = acc[s].errors.join("; ");
            self.book
                .failed(
                    std::slice::from_ref(s),
                    self.job.timeframe,
                    first,
                    self.validator,
                    declared,
                    &error,
                )
                .await;
        }
    }

    /// Closes the `runs` row and builds the summary.
    async fn finish(
        &self,
        symbols: &BTreeMap<String, SymbolAccount>,
        windows: &[Window],
        tally: Tally,
    ) -> RunSummary {
        let total = symbols.len() as u64;
        let v = verdict(symbols, windows, self.cancel.is_cancelled());
        let finished_at = Utc::now();
        let outcome = RunOutcome {
            finished_at,
            status: v.status,
            reason: v.reason.clone(),
            symbols_ok: v.symbols_ok,
            symbols_failed: v.symbols_failed,
            bars_fetched: tally.fetched,
            bars_written: tally.written,
            bars_rejected: tally.rejected,
            bars_skipped: tally.skipped,
            errors: v.errors.clone(),
            uncovered: v.uncovered.clone(),
        };
        let run_id = self.book.close(&outcome).await;
        self.ctx.metrics.run(&self.job.name, v.status.as_str());
        let line = summary_line(total, &v, tally);
        RunSummary {
            run_id,
            job: self.job.name.clone(),
            providers: self.used.lock().clone(),
            started_at: self.book.start().started_at,
            finished_at,
            status: v.status,
            reason: v.reason,
            symbols_total: total,
            symbols_ok: v.symbols_ok,
            symbols_failed: v.symbols_failed,
            bars_fetched: tally.fetched,
            bars_written: tally.written,
            bars_rejected: tally.rejected,
            bars_skipped: tally.skipped,
            bars_spooled: tally.spooled,
            errors: v.errors,
            uncovered: v.uncovered,
            line,
        }
    }
}

/// `f`, unless a stop is requested and `f` does not finish within [`STOP_GRACE`] of it.
async fn within_grace<F: Future>(cancel: &CancellationToken, f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    tokio::select! {
        biased;
        out = &mut f => return Some(out),
        () = cancel.cancelled() => {}
    }
    tokio::time::timeout(STOP_GRACE, f).await.ok()
}

fn note(notes: &mut BTreeMap<String, Vec<String>>, symbols: &[String], msg: String) {
    for s in symbols {
        notes.entry(s.clone()).or_default().push(msg.clone());
    }
}

/// The cursor a backfill request of `window` resumes at: the one its checkpoint saved for
/// this very window with this provider (another provider's cursor means nothing here).
/// Whether the window is needed at all is the coverage's business, not the checkpoint's.
fn resume_cursor(cp: Option<&Checkpoint>, window: Window, provider: &str) -> Option<String> {
    let cp = cp?;
    if cp.covered_from != window.start || cp.covered_to != window.end {
        return None;
    }
    let (p, cursor) = cp.cursor.as_deref()?.split_once(' ')?;
    (p == provider).then(|| cursor.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn cp(cursor: Option<&str>, from: &str, to: &str) -> Checkpoint {
        Checkpoint {
            job: "j".into(),
            symbol: "A".into(),
            timeframe: "1m".parse().unwrap(),
            cursor: cursor.map(str::to_owned),
            covered_from: t(from),
            covered_to: t(to),
        }
    }

    fn check(cp: Option<Checkpoint>, window: (&str, &str), expected: Option<&str>) {
        let w = Window {
            start: t(window.0),
            end: t(window.1),
        };
        assert_eq!(
            resume_cursor(cp.as_ref(), w, "polygon").as_deref(),
            expected,
            "{cp:?} {w:?}"
        );
    }

    #[test]
    fn a_backfill_resumes_only_the_window_its_cursor_belongs_to() {
        let (d1, d2, d3) = (
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-03T00:00:00Z",
        );
        check(None, (d1, d2), None);
        check(Some(cp(None, d1, d2)), (d1, d2), None);
        check(
            Some(cp(Some("polygon p2 x"), d2, d3)),
            (d2, d3),
            Some("p2 x"),
        );
        // A cursor of a later window says nothing about an earlier one: the earlier one
        // may have failed, and is fetched from its start.
        check(Some(cp(Some("polygon p2"), d2, d3)), (d1, d2), None);
        // Another provider's cursor means nothing to this one.
        check(Some(cp(Some("yahoo p2"), d2, d3)), (d2, d3), None);
    }
}
