//! One run of a job whose answers are gathered whole (`kind = "actions"`, `"series"`,
//! `"instruments"`): corporate actions of its symbols with ex-dates in its lookback (or its
//! backfill range), batch by batch; observations of each of its series ids in that range;
//! or the instrument listing of each of its providers. Each answer comes from the first
//! provider that serves it (a listing from every provider: each is its own), is judged
//! whole by the host's rules and written in one transaction. A run re-reads its whole
//! range: these answers are small, and a provider's late correction is exactly what the
//! store must see (it is kept as a revision).

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::book::RunBook;
use super::run::JobContext;
use super::status::RunSummary;
use crate::actions;
use crate::config::{JobConfig, JobData, JobKind, kinds_text};
use crate::domain::{
    ActionsRequest, DataKind, InstrumentsRequest, ProviderError, SeriesRequest, Vintage,
};
use crate::runtime::{End, Plugin};
use crate::store::{
    ActionsSummary, Coverage, InstrumentsBatch, RejectedRecord, RunOutcome, RunStatus, SeriesBatch,
    Source, Span, WriteBatch,
};
use crate::validate::{SeriesExpect, check_instruments, check_series};

/// What one answer did to the store, whatever its kind.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    inserted: u64,
    revised: u64,
    unchanged: u64,
    /// Quarantined with their reasons.
    rejected: u64,
    /// The store was unreachable: the answer is spooled and lands when it is back.
    spooled: bool,
}

impl std::ops::AddAssign for Counts {
    fn add_assign(&mut self, o: Counts) {
        self.inserted += o.inserted;
        self.revised += o.revised;
        self.unchanged += o.unchanged;
        self.rejected += o.rejected;
        self.spooled |= o.spooled;
    }
}

impl From<ActionsSummary> for Counts {
    fn from(s: ActionsSummary) -> Self {
        Counts {
            inserted: s.inserted,
            revised: s.revised,
            unchanged: s.unchanged,
            rejected: s.quarantined,
            spooled: s.spooled,
        }
    }
}

/// Pages one request may take before it counts as endless.
const MAX_PAGES: u32 = 1_000;

/// How far ahead a poll looks: dividends are declared weeks before their ex-date, and a
/// pipeline wants the coming ones.
pub const HORIZON_DAYS: u64 = 90;

/// The ex-dates `[start, end)` a run of `job` at `now` asks for: a poll's lookback through
/// [`HORIZON_DAYS`] after today, or a backfill's range (its last day included when it does
/// not end at midnight).
pub fn range(job: &JobConfig, now: DateTime<Utc>) -> (NaiveDate, NaiveDate) {
    match &job.kind {
        JobKind::Poll { lookback, .. } => {
            let back = chrono::Duration::from_std(*lookback).unwrap_or(chrono::Duration::MAX);
            let start = now
                .checked_sub_signed(back)
                .unwrap_or(DateTime::<Utc>::MIN_UTC);
            let today = now.date_naive();
            let end = today + chrono::Days::new(HORIZON_DAYS + 1);
            (start.date_naive(), end)
        }
        JobKind::Backfill { from, to } => {
            let last = to.date_naive();
            let midnight = last.and_time(chrono::NaiveTime::MIN).and_utc() == *to;
            let end = if midnight {
                last
            } else {
                last.succ_opt().unwrap_or(last)
            };
            (from.date_naive(), end)
        }
    }
}

/// What a run of `job` is made of: batches of symbols (actions), one series id each
/// (series), or one provider each (instruments: every provider's listing is its own).
fn units(job: &JobConfig) -> Vec<&[String]> {
    match job.data {
        JobData::Series => job.symbols.chunks(1).collect(),
        JobData::Instruments => job.providers.chunks(1).collect(),
        _ => job.symbols.chunks(job.batch_size.max(1)).collect(),
    }
}

/// Runs `job` once; never fails as a whole (what went wrong is in the summary and the
/// `runs` row).
pub async fn run(
    ctx: &JobContext,
    job: &JobConfig,
    now: DateTime<Utc>,
    cancel: &CancellationToken,
) -> RunSummary {
    let book = RunBook::open(&*ctx.store, super::run::run_start(ctx, job, now)).await;
    let (start, end) = range(job, now);
    let units = units(job);
    let total_units = units.iter().map(|u| u.len() as u64).sum::<u64>();
    let mut total = Counts::default();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut errors = Vec::new();
    let mut used: Vec<String> = Vec::new();
    let span = Span::new(midnight(start), midnight(end));
    // A backfill of a range (not a listing, which has none) keeps what it finished in the
    // job's coverage, so a stopped or killed one resumes where it was: with a daily quota
    // of 25, asking again for what is stored is what a resume must not do.
    let resumable =
        matches!(job.kind, JobKind::Backfill { .. }) && job.data != JobData::Instruments;
    let mut already = 0u64;
    let mut spooled = 0u64;
    for unit in units {
        if cancel.is_cancelled() {
            break;
        }
        if resumable && covered(ctx, job, unit, span).await {
            ok += unit.len() as u64;
            already += unit.len() as u64;
            continue;
        }
        let served = match job.data {
            JobData::Instruments => listing(ctx, &unit[0], &mut used).await,
            JobData::Series => series(ctx, job, &unit[0], (start, end), &mut used, book.id()).await,
            _ => actions_batch(ctx, job, unit, (start, end), &mut used, book.id()).await,
        };
        match served {
            Ok(counts) => {
                ok += unit.len() as u64;
                if counts.spooled {
                    spooled += unit.len() as u64;
                }
                total += counts;
                if resumable {
                    cover(ctx, job, unit, span).await;
                }
            }
            Err(why) => {
                failed += unit.len() as u64;
                errors.push(format!("{}: {}", unit.join(","), why.join("; ")));
            }
        }
    }
    let what = match job.data {
        JobData::Instruments => "providers",
        JobData::Series => "series",
        _ => "symbols",
    };
    let status = if cancel.is_cancelled() && ok + failed < total_units {
        RunStatus::Stopped
    } else if failed == 0 {
        RunStatus::Ok
    } else if ok == 0 {
        RunStatus::Failed
    } else {
        RunStatus::Partial
    };
    let reason = (status != RunStatus::Ok).then(|| match status {
        RunStatus::Stopped => "stopped on request".to_owned(),
        _ => format!("{failed} of {total_units} {what} not served"),
    });
    let range = match job.data {
        JobData::Instruments => "instruments".to_owned(),
        JobData::Series => format!("series {start} to {end}"),
        _ => format!("actions {start} to {end}"),
    };
    let line = format!(
        "{range}: {ok}/{total_units} {what}; {} new, {} revised, {} unchanged, {} quarantined{}{}",
        total.inserted,
        total.revised,
        total.unchanged,
        total.rejected,
        match (already, spooled) {
            (0, 0) => String::new(),
            (a, 0) => format!("; {a} already stored"),
            (0, s) =>
                format!("; {s} spooled (the store is unreachable; they land when it is back)"),
            (a, s) => format!("; {a} already stored; {s} spooled (the store is unreachable)"),
        },
        if errors.is_empty() {
            String::new()
        } else {
            format!("; failed: {}", errors.join(" | "))
        }
    );
    let finished_at = Utc::now();
    let outcome = RunOutcome {
        finished_at,
        status,
        reason: reason.clone(),
        symbols_ok: ok,
        symbols_failed: failed,
        bars_fetched: 0,
        bars_written: 0,
        bars_rejected: 0,
        bars_skipped: 0,
        errors: errors.clone(),
        uncovered: vec![],
    };
    let run_id = book.close(&outcome).await;
    ctx.metrics.run(&job.name, status.as_str());
    if status == RunStatus::Ok {
        tracing::info!(job = %job.name, status = status.as_str(), "{line}");
    } else {
        tracing::warn!(job = %job.name, status = status.as_str(), "{line}");
    }
    RunSummary {
        run_id,
        job: job.name.clone(),
        providers: used,
        started_at: now,
        finished_at,
        status,
        reason,
        symbols_total: total_units,
        symbols_ok: ok,
        symbols_failed: failed,
        bars_fetched: 0,
        bars_written: 0,
        bars_rejected: 0,
        bars_skipped: 0,
        bars_spooled: 0,
        errors,
        uncovered: vec![],
        line,
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    d.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// Whether every symbol of `unit` has `span` in the job's coverage already. A store that
/// cannot say is taken as no: asking again is harmless, skipping is not.
async fn covered(ctx: &JobContext, job: &JobConfig, unit: &[String], span: Span) -> bool {
    for s in unit {
        match ctx.store.coverage(&job.name, s, job.timeframe).await {
            Ok(spans) if span.within(&spans) => {}
            _ => return false,
        }
    }
    true
}

/// Adds `span` to the coverage of every symbol of `unit`, once its answer is committed
/// (a stop between the two only costs asking again).
async fn cover(ctx: &JobContext, job: &JobConfig, unit: &[String], span: Span) {
    let source = Source {
        provider: job.providers[0].clone(),
        version: String::new(),
    };
    let mut batch = WriteBatch::new(source, Utc::now());
    batch.coverage = unit
        .iter()
        .map(|s| Coverage {
            job: job.name.clone(),
            symbol: s.clone(),
            timeframe: job.timeframe,
            span,
        })
        .collect();
    if let Err(e) = ctx.store.write(&batch).await {
        tracing::warn!(job = %job.name, error = %e, "cannot record the backfill's coverage; a resume asks again");
    }
}

/// Provider `name`'s plugin if it may be asked for `kind` now: loaded, declaring the
/// kind, its circuit closed and its quota not spent; else why not.
fn usable(ctx: &JobContext, name: &str, kind: DataKind) -> Result<Arc<Plugin>, String> {
    let plugin = ctx
        .registry
        .get(name)
        .ok_or_else(|| format!("{name}: provider missing"))?;
    if !plugin.info().kinds.contains(&kind) {
        let serves = kinds_text(&plugin.info().kinds);
        let kind = kinds_text(&[kind]);
        return Err(format!("{name}: does not serve {kind} (serves {serves})"));
    }
    ctx.breakers
        .allow(name)
        .map_err(|open| format!("{name}: {open}"))?;
    if let Some(until) = plugin.quota_exhausted_until(Utc::now()) {
        return Err(format!(
            "{name}: {}",
            ProviderError::QuotaExhausted(Some(until))
        ));
    }
    Ok(plugin)
}

/// Records how a walk with `name` ended: a fault of the provider's counts against its
/// breaker (a spent quota or a symbol it does not know is not one); its message if it did
/// not complete.
fn settle(ctx: &JobContext, name: &str, end: End, used: &mut Vec<String>) -> Result<(), String> {
    let fault = match &end {
        End::Complete => {
            ctx.breakers.success(name);
            if !used.iter().any(|u| u == name) {
                used.push(name.to_owned());
            }
            return Ok(());
        }
        End::Provider(p) => p.blames_provider(),
        _ => true,
    };
    if fault {
        ctx.breakers.failure(name);
    }
    Err(format!("{name}: {end}"))
}

fn source(plugin: &Plugin) -> Source {
    Source {
        provider: plugin.name().to_owned(),
        version: plugin.version().to_owned(),
    }
}

/// One batch of symbols' actions from the first provider that serves all of it, written
/// as run `run`'s; what each provider said when none did.
async fn actions_batch(
    ctx: &JobContext,
    job: &JobConfig,
    batch: &[String],
    (start, end): (NaiveDate, NaiveDate),
    used: &mut Vec<String>,
    run: Option<i64>,
) -> Result<Counts, Vec<String>> {
    let mut why = Vec::new();
    for name in &job.providers {
        let plugin = match usable(ctx, name, DataKind::CorporateActions) {
            Ok(p) => p,
            Err(e) => {
                why.push(e);
                continue;
            }
        };
        // The whole batch's answer is judged at once (copies of one event on two
        // requests are one event), then written in one transaction.
        let per_request = plugin.info().max_symbols_per_request.max(1) as usize;
        let mut page = crate::domain::ActionsPage::default();
        let mut walked = End::Complete;
        for chunk in batch.chunks(per_request) {
            let req = ActionsRequest {
                symbols: chunk.to_vec(),
                start,
                end,
                cursor: None,
            };
            let span = tracing::info_span!("call", provider = %name, version = plugin.version());
            let (p, e) = plugin.all_actions(&req, MAX_PAGES).instrument(span).await;
            page.splits.extend(p.splits);
            page.dividends.extend(p.dividends);
            if !matches!(e, End::Complete) {
                walked = e;
                break;
            }
        }
        if let Err(e) = settle(ctx, name, walked, used) {
            why.push(e);
            continue;
        }
        let checked = actions::check(&page, batch, start, end);
        return match actions::store(&*ctx.store, &plugin, checked, run).await {
            Ok(sum) => Ok(sum.into()),
            // The next provider would fare no better with the store.
            Err(e) => {
                why.push(format!("store: {e}"));
                Err(why)
            }
        };
    }
    Err(why)
}

/// One series' observations in `[start, end)` from the first provider that serves it,
/// written as run `run`'s.
async fn series(
    ctx: &JobContext,
    job: &JobConfig,
    series_id: &str,
    (start, end): (NaiveDate, NaiveDate),
    used: &mut Vec<String>,
    run: Option<i64>,
) -> Result<Counts, Vec<String>> {
    let mut why = Vec::new();
    for name in &job.providers {
        let plugin = match usable(ctx, name, DataKind::EconomicSeries) {
            Ok(p) => p,
            Err(e) => {
                why.push(e);
                continue;
            }
        };
        let req = SeriesRequest {
            series_id: series_id.to_owned(),
            start,
            end,
            vintage: Vintage::Latest,
            cursor: None,
        };
        let span = tracing::info_span!("call", provider = %name, version = plugin.version());
        let (page, walked) = plugin.all_series(&req, MAX_PAGES).instrument(span).await;
        if let Err(e) = settle(ctx, name, walked, used) {
            why.push(e);
            continue;
        }
        let checked = check_series(
            &page,
            &SeriesExpect {
                series_id,
                start,
                end,
                today: Utc::now().date_naive(),
            },
        );
        let rejected: Vec<RejectedRecord> = checked
            .rejected
            .iter()
            .map(|r| {
                let vintage = r
                    .raw
                    .realtime_start
                    .map_or("-".to_owned(), |d| d.to_string());
                RejectedRecord {
                    kind: "observation".into(),
                    key: format!("{series_id} {} {vintage}", r.raw.date),
                    raw: serde_json::to_value(&r.raw).unwrap_or_default(),
                    reasons: r.reasons.clone(),
                }
            })
            .collect();
        let mut batch = SeriesBatch::from_checked(source(&plugin), &checked, Utc::now());
        batch.run = run;
        let written = match ctx.store.write_series(&batch).await {
            Ok(sum) => quarantine(ctx, &batch.source, &rejected)
                .await
                .map(|()| Counts {
                    inserted: sum.inserted,
                    revised: sum.revised,
                    unchanged: sum.unchanged + sum.updated,
                    rejected: rejected.len() as u64,
                    spooled: sum.spooled,
                }),
            Err(e) => Err(format!("store: {e}")),
        };
        // The next provider would fare no better with the store.
        return written.map_err(|e| {
            why.push(e);
            why
        });
    }
    Err(why)
}

/// Provider `name`'s whole instrument listing.
async fn listing(
    ctx: &JobContext,
    name: &str,
    used: &mut Vec<String>,
) -> Result<Counts, Vec<String>> {
    let plugin = usable(ctx, name, DataKind::Instruments).map_err(|e| vec![e])?;
    let req = InstrumentsRequest {
        asset_class: None,
        cursor: None,
    };
    let span = tracing::info_span!("call", provider = %name, version = plugin.version());
    let (page, walked) = plugin
        .all_instruments(&req, MAX_PAGES)
        .instrument(span)
        .await;
    settle(ctx, name, walked, used).map_err(|e| vec![e])?;
    let checked = check_instruments(&page, Utc::now().date_naive());
    let rejected: Vec<RejectedRecord> = checked
        .rejected
        .iter()
        .map(|r| RejectedRecord {
            kind: "instrument".into(),
            key: if r.raw.provider_symbol.is_empty() {
                r.raw.symbol.clone()
            } else {
                r.raw.provider_symbol.clone()
            },
            raw: serde_json::to_value(&r.raw).unwrap_or_default(),
            reasons: r.reasons.clone(),
        })
        .collect();
    let batch = InstrumentsBatch {
        source: source(&plugin),
        instruments: checked.instruments,
        received_at: Utc::now(),
    };
    let sum = ctx
        .store
        .write_instruments(&batch)
        .await
        .map_err(|e| vec![format!("store: {e}")])?;
    quarantine(ctx, &batch.source, &rejected)
        .await
        .map_err(|e| vec![e])?;
    Ok(Counts {
        inserted: sum.inserted,
        revised: sum.revised,
        unchanged: sum.unchanged,
        rejected: rejected.len() as u64,
        spooled: sum.spooled,
    })
}

/// Quarantines what an answer held that failed the host's rules, and logs each reason.
async fn quarantine(
    ctx: &JobContext,
    source: &Source,
    rejected: &[RejectedRecord],
) -> Result<(), String> {
    for r in rejected {
        let codes: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
        tracing::warn!(provider = %source.provider, kind = %r.kind, key = %r.key, reasons = ?codes, "quarantined");
    }
    ctx.store
        .quarantine_records(source, Utc::now(), rejected)
        .await
        .map_err(|e| format!("store: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobData;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn job(kind: JobKind) -> JobConfig {
        JobConfig {
            name: "a".into(),
            kind,
            data: JobData::Actions,
            providers: vec!["p".into()],
            symbols: vec!["AAPL".into()],
            symbols_from: None,
            timeframe: "1d".parse().unwrap(),
            batch_size: 50,
            concurrency: 1,
        }
    }

    #[test]
    fn a_run_asks_for_its_lookback_through_today_or_its_backfill_range() {
        let check = |kind: JobKind, now: &str, expected: (&str, &str)| {
            assert_eq!(
                range(&job(kind), t(now)),
                (day(expected.0), day(expected.1)),
                "{now}"
            );
        };
        let poll = |days: u64| JobKind::Poll {
            schedule: Box::new("0 0 6 * * *".parse().unwrap()),
            schedule_text: "0 0 6 * * *".into(),
            lookback: std::time::Duration::from_secs(days * 86_400),
        };
        // Today and the next 90 days are asked for too.
        check(
            poll(30),
            "2026-12-04T06:00:00Z",
            ("2026-11-04", "2027-03-05"),
        );
        check(
            poll(30),
            "2026-12-04T00:00:00Z",
            ("2026-11-04", "2027-03-05"),
        );
        let backfill = |from: &str, to: &str| JobKind::Backfill {
            from: t(from),
            to: t(to),
        };
        // `--to 2020-12-31` arrives as the next midnight: the 31st is included.
        check(
            backfill("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z"),
            "2026-12-04T06:00:00Z",
            ("2020-01-01", "2021-01-01"),
        );
        check(
            backfill("2020-01-01T00:00:00Z", "2020-06-30T12:00:00Z"),
            "2026-12-04T06:00:00Z",
            ("2020-01-01", "2020-07-01"),
        );
    }
}
