//! One run of a job: its windows, its symbol batches, provider failover for each request,
//! page-by-page ingest with checkpoints, and the run's summary line and `runs` row.
//!
//! A failing symbol never stops its batch: a symbol-level error on a multi-symbol request
//! is retried symbol by symbol to isolate it, and a provider-level failure (a trap, a
//! deadline, 5xx after retries, unauthorized) moves the request to the next provider.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::breaker::Breakers;
use super::plan::{self, Window};
use super::status::RunSummary;
use crate::config::{JobConfig, JobKind};
use crate::domain::{AssetClass, BarsRequest, ProviderError};
use crate::ingest::ingest;
use crate::metrics::Metrics;
use crate::reload::Registry;
use crate::runtime::Plugin;
use crate::store::{Checkpoint, Failure, RunOutcome, RunStart, RunStatus, Source, Store};
use crate::validate::{Request, Validator};

/// A provider whose pages never end is cut off here (and the request fails over).
pub const MAX_PAGES: u32 = 10_000;

/// Errors listed in the summary line; the rest are in the `runs` row.
const SUMMARY_ERRORS: usize = 5;

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
        let mut map = self.map.lock().expect("slots lock");
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
    /// The store refused the write (after its own retries and spool): the next provider
    /// would fare no better.
    Store(String),
    /// Shutdown: stop after the page in hand (its checkpoint is saved).
    Interrupted,
}

#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    bars: u64,
    rejected: u64,
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.bars += o.bars;
        self.rejected += o.rejected;
    }
}

/// What became of one symbol over the run.
#[derive(Debug, Default, Clone)]
struct SymbolResult {
    failed: bool,
    errors: Vec<String>,
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
    let primary = &job.providers[0];
    let start = RunStart {
        job: job.name.clone(),
        provider: primary.clone(),
        plugin_version: ctx
            .registry
            .get(primary)
            .map_or_else(|| "missing".to_owned(), |p| p.version().to_owned()),
        started_at: now,
    };
    let run_id = match ctx.store.begin_run(&start).await {
        Ok(id) => Some(id),
        Err(e) => {
            tracing::warn!(job = %job.name, error = %e, "cannot open a runs row; recording the run when it ends");
            None
        }
    };
    let span = tracing::info_span!("run", job = %job.name, run = run_id.unwrap_or(-1));
    let runner = Runner {
        ctx,
        job,
        validator,
        cancel,
        progress,
        used: Mutex::default(),
    };
    async {
        let windows = match &job.kind {
            JobKind::Poll { lookback, .. } => {
                vec![plan::poll_window(now, job.timeframe, *lookback)]
            }
            JobKind::Backfill { from, to } => plan::backfill_windows(*from, *to, job.timeframe),
        };
        progress.start((job.symbols.len() * windows.len()) as u64);
        let batches = plan::batches(&job.symbols, job.batch_size);
        let results: Vec<(BTreeMap<String, SymbolResult>, Tally)> =
            futures_util::stream::iter(batches)
                .map(|b| runner.batch(b, &windows))
                .buffer_unordered(job.concurrency)
                .collect()
                .await;
        let mut symbols: BTreeMap<String, SymbolResult> = BTreeMap::new();
        let mut tally = Tally::default();
        for (s, t) in results {
            symbols.extend(s);
            tally += t;
        }
        let summary = runner.finish(run_id, &start, symbols, tally).await;
        if summary.status == RunStatus::Ok {
            tracing::info!(status = summary.status.as_str(), "{}", summary.line);
        } else {
            tracing::warn!(status = summary.status.as_str(), "{}", summary.line);
        }
        summary
    }
    .instrument(span)
    .await
}

struct Runner<'a> {
    ctx: &'a JobContext,
    job: &'a JobConfig,
    validator: &'a Validator,
    cancel: &'a CancellationToken,
    progress: &'a dyn Progress,
    /// Providers that served at least one request, in first-use order.
    used: Mutex<Vec<String>>,
}

impl Runner<'_> {
    /// Every window of one batch, each request failing over along the provider list.
    async fn batch(
        &self,
        batch: Vec<String>,
        windows: &[Window],
    ) -> (BTreeMap<String, SymbolResult>, Tally) {
        let mut results: BTreeMap<String, SymbolResult> = batch
            .iter()
            .map(|s| (s.clone(), SymbolResult::default()))
            .collect();
        let mut tally = Tally::default();
        for window in windows {
            if self.cancel.is_cancelled() {
                for r in results.values_mut() {
                    r.failed = true;
                    r.errors.push("interrupted by shutdown".into());
                }
                break;
            }
            let mut pending = batch.clone();
            let mut notes: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for provider in &self.job.providers {
                if pending.is_empty() {
                    break;
                }
                let Some(plugin) = self.ctx.registry.get(provider) else {
                    note(
                        &mut notes,
                        &pending,
                        format!("{provider}: provider missing"),
                    );
                    continue;
                };
                if !plugin.info().timeframes.contains(&self.job.timeframe) {
                    let msg = format!("{provider}: does not serve {}", self.job.timeframe);
                    note(&mut notes, &pending, msg);
                    continue;
                }
                let mut failed = Vec::new();
                let max = plugin.info().max_symbols_per_request;
                for req in plan::requests(&pending, max) {
                    match self
                        .with_isolation(&plugin, &req, *window, &mut notes)
                        .await
                    {
                        Ok((t, still_failed)) => {
                            tally += t;
                            failed.extend(still_failed);
                        }
                        Err(Fail::Interrupted) => {
                            note(&mut notes, &req, "interrupted by shutdown".into());
                            return (finish_batch(results, notes, &batch), tally);
                        }
                        Err(Fail::Store(m)) => {
                            // Final: recorded as failed below, not retried elsewhere.
                            note(&mut notes, &req, m);
                            for s in &req {
                                results.get_mut(s).expect("batch symbol").failed = true;
                            }
                        }
                        Err(Fail::Provider(m) | Fail::Symbols(m)) => {
                            note(&mut notes, &req, m);
                            failed.extend(req);
                        }
                    }
                }
                pending = failed;
            }
            for s in &pending {
                results.get_mut(s).expect("batch symbol").failed = true;
            }
            let done = batch.len() as u64;
            self.progress.advance(done);
            for (s, msgs) in notes {
                let r = results.get_mut(&s).expect("batch symbol");
                if r.failed && r.errors.is_empty() {
                    r.errors = msgs;
                }
            }
            self.record_failures(&results, &pending).await;
        }
        (results, tally)
    }

    /// One request with one provider; a symbol-level failure of a multi-symbol request is
    /// retried symbol by symbol. Returns the bars and the symbols that still failed.
    async fn with_isolation(
        &self,
        plugin: &Arc<Plugin>,
        symbols: &[String],
        window: Window,
        notes: &mut BTreeMap<String, Vec<String>>,
    ) -> Result<(Tally, Vec<String>), Fail> {
        match self.request(plugin, symbols, window).await {
            Ok(t) => Ok((t, Vec::new())),
            Err(Fail::Symbols(m)) if symbols.len() > 1 => {
                tracing::info!(provider = plugin.name(), error = %m, "isolating the symbols of a failed request");
                let mut tally = Tally::default();
                let mut failed = Vec::new();
                for s in symbols {
                    match self.request(plugin, std::slice::from_ref(s), window).await {
                        Ok(t) => tally += t,
                        Err(Fail::Provider(m) | Fail::Symbols(m)) => {
                            note(notes, std::slice::from_ref(s), m);
                            failed.push(s.clone());
                        }
                        Err(other) => return Err(other),
                    }
                }
                Ok((tally, failed))
            }
            Err(e) => Err(e),
        }
    }

    /// Every page of one request, each written with its checkpoint as it arrives.
    async fn request(
        &self,
        plugin: &Arc<Plugin>,
        symbols: &[String],
        window: Window,
    ) -> Result<Tally, Fail> {
        let name = plugin.name();
        if let Err(open) = self.ctx.breakers.allow(name) {
            return Err(Fail::Provider(format!("{name}: {open}")));
        }
        let key = symbols.join(",");
        let tf = self.job.timeframe;
        let backfill_from = match &self.job.kind {
            JobKind::Backfill { from, .. } => Some(*from),
            JobKind::Poll { .. } => None,
        };
        let mut req = BarsRequest {
            symbols: symbols.to_vec(),
            timeframe: tf,
            start: window.start,
            end: window.end,
            cursor: None,
        };
        if backfill_from.is_some() {
            let cp = self
                .ctx
                .store
                .checkpoint(&self.job.name, &key, tf)
                .await
                .map_err(|e| Fail::Store(format!("store: {e}")))?;
            match resume_point(cp.as_ref(), window, name) {
                Resume::Done => return Ok(Tally::default()),
                Resume::At(c) => req.cursor = Some(c),
                Resume::Fresh => {}
            }
        }
        self.used_provider(name);
        let default_class = default_class(plugin);
        let vreq = Request {
            symbols: req.symbols.clone(),
            timeframe: tf,
            start: window.start,
            end: window.end,
            default_class,
        };
        let source = Source {
            provider: name.to_owned(),
            version: plugin.version().to_owned(),
        };
        let limit = self.ctx.registry.config().plugin(name).concurrency;
        let slots = self.ctx.slots.get(name, limit);
        let mut seen: HashSet<String> = req.cursor.iter().cloned().collect();
        let mut tally = Tally::default();
        for _ in 0..MAX_PAGES {
            let permit = match &slots {
                Some(s) => Some(s.clone().acquire_owned().await.expect("never closed")),
                None => None,
            };
            let span = tracing::info_span!("call", provider = name, version = plugin.version());
            let answer = plugin.fetch_bars(&req).instrument(span).await;
            drop(permit);
            let page = match answer {
                Err(e) => {
                    self.ctx.breakers.failure(name);
                    return Err(Fail::Provider(format!("{name}: {} failure: {e}", e.kind())));
                }
                Ok(Err(e)) => return Err(self.classify(name, e)),
                Ok(Ok(page)) => page,
            };
            let next = page.next_cursor.clone();
            if let Some(c) = &next
                && !seen.insert(c.clone())
            {
                self.ctx.breakers.failure(name);
                return Err(Fail::Provider(format!(
                    "{name}: pagination does not terminate (cursor {c:?} came twice)"
                )));
            }
            let checkpoint = match (backfill_from, &next) {
                (Some(_), Some(c)) => Some(Checkpoint {
                    job: self.job.name.clone(),
                    symbol: key.clone(),
                    timeframe: tf,
                    cursor: Some(format!("{name} {c}")),
                    covered_from: window.start,
                    covered_to: window.end,
                }),
                (from, None) => Some(Checkpoint {
                    job: self.job.name.clone(),
                    symbol: key.clone(),
                    timeframe: tf,
                    cursor: None,
                    covered_from: from.unwrap_or(window.start),
                    covered_to: window.end,
                }),
                (None, Some(_)) => None,
            };
            let pages_bars = page.bars;
            let got = ingest(
                &*self.ctx.store,
                self.validator,
                &vreq,
                &source,
                pages_bars,
                checkpoint,
                Utc::now(),
            )
            .await
            .map_err(|e| Fail::Store(format!("store: {e}")))?;
            let t = Tally {
                bars: got.accepted,
                rejected: got.rejected,
            };
            self.ctx
                .metrics
                .bars(name, &tf.to_string(), t.bars, t.rejected);
            self.progress.page(t.bars);
            tally += t;
            match next {
                None => {
                    self.ctx.breakers.success(name);
                    return Ok(tally);
                }
                Some(c) => {
                    if self.cancel.is_cancelled() {
                        return Err(Fail::Interrupted);
                    }
                    req.cursor = Some(c);
                }
            }
        }
        self.ctx.breakers.failure(name);
        Err(Fail::Provider(format!(
            "{name}: no last page after {MAX_PAGES} pages"
        )))
    }

    fn classify(&self, name: &str, e: ProviderError) -> Fail {
        let msg = format!("{name}: {e}");
        match e {
            ProviderError::UnknownSymbol(_)
            | ProviderError::Unsupported(_)
            | ProviderError::BadResponse(_) => Fail::Symbols(msg),
            ProviderError::RateLimited(_)
            | ProviderError::Unauthorized(_)
            | ProviderError::Transient(_) => {
                self.ctx.breakers.failure(name);
                Fail::Provider(msg)
            }
        }
    }

    fn used_provider(&self, name: &str) {
        let mut used = self.used.lock().expect("used lock");
        if !used.iter().any(|u| u == name) {
            used.push(name.to_owned());
        }
    }

    /// Freshness `last_error` for every symbol no provider could serve.
    async fn record_failures(&self, results: &BTreeMap<String, SymbolResult>, pending: &[String]) {
        for s in pending {
            let r = &results[s];
            let fallback = self.ctx.registry.get(&self.job.providers[0]);
            let class = self
                .validator
                .policy(
                    s,
                    fallback.as_ref().map_or(AssetClass::Equity, default_class),
                )
                .asset_class;
            let failure = Failure {
                symbol: s.clone(),
                timeframe: self.job.timeframe,
                source: self.job.providers[0].clone(),
                asset_class: class,
                error: r.errors.join("; "),
                at: Utc::now(),
            };
            if let Err(e) = self.ctx.store.record_failure(&failure).await {
                tracing::warn!(symbol = %s, error = %e, "cannot record the failure in freshness");
            }
        }
    }

    /// Closes the `runs` row and builds the summary.
    async fn finish(
        &self,
        run_id: Option<i64>,
        start: &RunStart,
        symbols: BTreeMap<String, SymbolResult>,
        tally: Tally,
    ) -> RunSummary {
        let total = symbols.len() as u64;
        let failed: Vec<(&String, &SymbolResult)> =
            symbols.iter().filter(|(_, r)| r.failed).collect();
        let n_failed = failed.len() as u64;
        let errors: Vec<String> = failed
            .iter()
            .map(|(s, r)| format!("{s}: {}", r.errors.join("; ")))
            .collect();
        let status = RunStatus::from_counts(total - n_failed, n_failed);
        let finished_at = Utc::now();
        let outcome = RunOutcome {
            finished_at,
            status,
            symbols_ok: total - n_failed,
            symbols_failed: n_failed,
            bars_written: tally.bars,
            bars_rejected: tally.rejected,
            errors: errors.clone(),
        };
        let run_id = match run_id {
            Some(id) => match self.ctx.store.finish_run(id, &outcome).await {
                Ok(()) => Some(id),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot close the runs row; recording it anew");
                    self.ctx.store.record_run(start, &outcome).await.ok()
                }
            },
            None => self.ctx.store.record_run(start, &outcome).await.ok(),
        };
        self.ctx.metrics.run(&self.job.name, status.as_str());
        let line = summary_line(total, n_failed, tally, &errors);
        RunSummary {
            run_id,
            job: self.job.name.clone(),
            providers: self.used.lock().expect("used lock").clone(),
            started_at: start.started_at,
            finished_at,
            status,
            symbols_total: total,
            symbols_ok: total - n_failed,
            symbols_failed: n_failed,
            bars_written: tally.bars,
            bars_rejected: tally.rejected,
            errors,
            line,
        }
    }
}

/// The class of symbols `[validation.instruments]` does not name: the plugin's first.
fn default_class(plugin: &Arc<Plugin>) -> AssetClass {
    plugin
        .info()
        .asset_classes
        .first()
        .copied()
        .unwrap_or(AssetClass::Equity)
}

fn note(notes: &mut BTreeMap<String, Vec<String>>, symbols: &[String], msg: String) {
    for s in symbols {
        notes.entry(s.clone()).or_default().push(msg.clone());
    }
}

/// A batch cut short by shutdown: symbols not yet done are failed with their notes.
fn finish_batch(
    mut results: BTreeMap<String, SymbolResult>,
    notes: BTreeMap<String, Vec<String>>,
    batch: &[String],
) -> BTreeMap<String, SymbolResult> {
    for s in batch {
        if let Some(msgs) = notes.get(s) {
            let r = results.get_mut(s).expect("batch symbol");
            r.failed = true;
            r.errors = msgs.clone();
        }
    }
    results
}

/// Where a backfill request starts, given its checkpoint.
#[derive(Debug, PartialEq, Eq)]
enum Resume {
    /// The window is covered already.
    Done,
    /// Mid-window: continue with this provider's cursor.
    At(String),
    Fresh,
}

/// A checkpoint without a cursor says `[covered_from, covered_to)` is done; one with a
/// cursor says the window `[covered_from, covered_to)` is under way (and everything before
/// it is done), to be resumed with the cursor if the same provider serves it.
fn resume_point(cp: Option<&Checkpoint>, window: Window, provider: &str) -> Resume {
    let Some(cp) = cp else { return Resume::Fresh };
    match &cp.cursor {
        None if cp.covered_from <= window.start && window.end <= cp.covered_to => Resume::Done,
        None => Resume::Fresh,
        Some(_) if window.end <= cp.covered_from => Resume::Done,
        Some(c) if cp.covered_from == window.start && cp.covered_to == window.end => {
            match c.split_once(' ') {
                Some((p, cursor)) if p == provider => Resume::At(cursor.to_owned()),
                _ => Resume::Fresh,
            }
        }
        Some(_) => Resume::Fresh,
    }
}

/// "processed 487/500 symbols, 11,688 bars, 13 failed: A: …; B: …, …"
fn summary_line(total: u64, failed: u64, tally: Tally, errors: &[String]) -> String {
    let mut line = format!(
        "processed {}/{} symbols, {} bars",
        thousands(total - failed),
        thousands(total),
        thousands(tally.bars)
    );
    if tally.rejected > 0 {
        line += &format!(" ({} rejected)", thousands(tally.rejected));
    }
    if failed > 0 {
        line += &format!(", {} failed: ", thousands(failed));
        line += &errors[..errors.len().min(SUMMARY_ERRORS)].join("; ");
        if errors.len() > SUMMARY_ERRORS {
            line += &format!("; … and {} more", errors.len() - SUMMARY_ERRORS);
        }
    }
    line
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (11688, "11,688"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }

    fn check_line(
        total: u64,
        failed: u64,
        bars: u64,
        rejected: u64,
        errors: &[&str],
        expected: &str,
    ) {
        let errors: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            summary_line(total, failed, Tally { bars, rejected }, &errors),
            expected
        );
    }

    #[test]
    fn the_summary_line_says_what_happened() {
        check_line(
            500,
            0,
            11688,
            0,
            &[],
            "processed 500/500 symbols, 11,688 bars",
        );
        check_line(
            500,
            2,
            11688,
            3,
            &["X: unknown symbol: X", "Y: yahoo: transient: 503"],
            "processed 498/500 symbols, 11,688 bars (3 rejected), 2 failed: X: unknown symbol: X; Y: yahoo: transient: 503",
        );
        let many = ["A: e", "B: e", "C: e", "D: e", "E: e", "F: e", "G: e"];
        check_line(
            10,
            7,
            0,
            0,
            &many,
            "processed 3/10 symbols, 0 bars, 7 failed: A: e; B: e; C: e; D: e; E: e; … and 2 more",
        );
    }

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

    fn check_resume(cp: Option<Checkpoint>, window: (&str, &str), expected: Resume) {
        let w = Window {
            start: t(window.0),
            end: t(window.1),
        };
        assert_eq!(
            resume_point(cp.as_ref(), w, "polygon"),
            expected,
            "{cp:?} {w:?}"
        );
    }

    #[test]
    fn a_backfill_resumes_where_its_checkpoint_says() {
        let (d1, d2, d3) = (
            "2024-01-01T00:00:00Z",
            "2024-01-02T00:00:00Z",
            "2024-01-03T00:00:00Z",
        );
        check_resume(None, (d1, d2), Resume::Fresh);
        check_resume(Some(cp(None, d1, d2)), (d1, d2), Resume::Done);
        check_resume(Some(cp(None, d1, d2)), (d2, d3), Resume::Fresh);
        check_resume(Some(cp(Some("polygon p2"), d2, d3)), (d1, d2), Resume::Done);
        check_resume(
            Some(cp(Some("polygon p2 x"), d2, d3)),
            (d2, d3),
            Resume::At("p2 x".into()),
        );
        // Another provider's cursor means nothing to this one.
        check_resume(Some(cp(Some("yahoo p2"), d2, d3)), (d2, d3), Resume::Fresh);
    }
}
