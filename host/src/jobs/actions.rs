//! One run of an actions job (`kind = "actions"`): the splits and dividends of its symbols
//! with ex-dates in its lookback (or its backfill range), batch by batch, each batch from
//! the first provider that serves it, checked and written in one transaction. A run
//! re-reads its whole range: actions are few, and a provider's late correction is exactly
//! what the store must see (it is kept as a revision).

use chrono::{DateTime, NaiveDate, Utc};
use tokio_util::sync::CancellationToken;

use super::book::RunBook;
use super::run::JobContext;
use super::status::RunSummary;
use crate::actions;
use crate::config::{JobConfig, JobKind, kinds_text};
use crate::domain::{ActionsRequest, DataKind, ProviderError};
use crate::runtime::End;
use crate::store::{ActionsSummary, RunOutcome, RunStatus};

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
    let mut total = ActionsSummary::default();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut errors = Vec::new();
    let mut used: Vec<String> = Vec::new();
    for batch in job.symbols.chunks(job.batch_size.max(1)) {
        if cancel.is_cancelled() {
            break;
        }
        match serve(ctx, job, batch, start, end, &mut used).await {
            Ok(sum) => {
                ok += batch.len() as u64;
                total += sum;
            }
            Err(why) => {
                failed += batch.len() as u64;
                errors.push(format!("{}: {}", batch.join(","), why.join("; ")));
            }
        }
    }
    let status = if cancel.is_cancelled() && ok + failed < job.symbols.len() as u64 {
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
        _ => format!("{failed} of {} symbols not served", job.symbols.len()),
    });
    let line = format!(
        "actions {start} to {end}: {ok}/{} symbols; {} new, {} revised, {} unchanged, {} quarantined{}",
        job.symbols.len(),
        total.inserted,
        total.revised,
        total.unchanged,
        total.quarantined,
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
        symbols_total: job.symbols.len() as u64,
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

/// One batch of symbols from the first provider that serves all of it; what each
/// provider said when none did.
async fn serve(
    ctx: &JobContext,
    job: &JobConfig,
    batch: &[String],
    start: NaiveDate,
    end: NaiveDate,
    used: &mut Vec<String>,
) -> Result<ActionsSummary, Vec<String>> {
    let mut why = Vec::new();
    for name in &job.providers {
        let Some(plugin) = ctx.registry.get(name) else {
            why.push(format!("{name}: provider missing"));
            continue;
        };
        if !plugin.info().kinds.contains(&DataKind::CorporateActions) {
            let kinds = kinds_text(&plugin.info().kinds);
            why.push(format!(
                "{name}: does not serve corporate actions (serves {kinds})"
            ));
            continue;
        }
        if let Err(open) = ctx.breakers.allow(name) {
            why.push(format!("{name}: {open}"));
            continue;
        }
        if let Some(until) = plugin.quota_exhausted_until(Utc::now()) {
            why.push(format!(
                "{name}: {}",
                ProviderError::QuotaExhausted(Some(until))
            ));
            continue;
        }
        // The whole batch's answer is judged at once (copies of one event on two
        // requests are one event), then written in one transaction.
        let per_request = plugin.info().max_symbols_per_request.max(1) as usize;
        let mut page = crate::domain::ActionsPage::default();
        let mut failure = None;
        for chunk in batch.chunks(per_request) {
            let req = ActionsRequest {
                symbols: chunk.to_vec(),
                start,
                end,
                cursor: None,
            };
            let span = tracing::info_span!("call", provider = %name, version = plugin.version());
            match tracing::Instrument::instrument(
                actions::fetch_all(&plugin, &req, MAX_PAGES),
                span,
            )
            .await
            {
                Ok(p) => {
                    page.splits.extend(p.splits);
                    page.dividends.extend(p.dividends);
                }
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if let Some(e) = failure {
            // A provider at fault counts against its breaker; a spent quota or a symbol
            // it does not know is not a fault.
            let fault = match &e {
                End::Provider(p) => matches!(
                    p,
                    ProviderError::Transient(_)
                        | ProviderError::RateLimited(_)
                        | ProviderError::Unauthorized(_)
                ),
                _ => true,
            };
            if fault {
                ctx.breakers.failure(name);
            }
            why.push(format!("{name}: {e}"));
            continue;
        }
        ctx.breakers.success(name);
        if !used.contains(name) {
            used.push(name.clone());
        }
        let checked = actions::check(&page, batch, start, end);
        return match actions::store(&*ctx.store, &plugin, checked).await {
            Ok(sum) => Ok(sum),
            // The next provider would fare no better with the store.
            Err(e) => {
                why.push(format!("store: {e}"));
                Err(why)
            }
        };
    }
    Err(why)
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
