//! `mdhost backfill`: fetch a historical range once, with a progress bar. Every page is
//! written with its checkpoint in one transaction, and each window of each series is
//! marked covered only with its last page, so a backfill that was killed, stopped or hit
//! faults continues, when started again, exactly where data is missing, and ends with the
//! table an uninterrupted run would leave.
//!
//! SIGTERM or SIGINT stops it gracefully: the page in flight gets a few seconds to commit,
//! the run is recorded as `stopped`, and the command says how to resume. A second signal
//! exits at once (nothing committed is lost either way).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::service::Host;
use super::store::StoreArg;
use crate::config::{JobConfig, JobData, JobKind, lacks_timeframe, not_loaded, parse_when};
use crate::domain::Timeframe;
use crate::jobs::{Progress, run_job};
use crate::store::RunStatus;
use crate::validate::Validator;

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("what").required(true).args(["job", "provider"]))]
pub struct BackfillArgs {
    /// A `kind = "backfill"` job of the configuration (a poll job is backfilled over the
    /// range given with --from/--to).
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Ad hoc: the provider to fetch from (with --symbols, --timeframe, --from, --to).
    #[arg(long, value_name = "NAME", requires_all = ["symbols", "timeframe", "from", "to"])]
    pub provider: Option<String>,
    /// Comma-separated canonical symbols.
    #[arg(long, value_delimiter = ',', value_name = "SYMBOLS", value_parser = super::plugin::parse_symbol)]
    pub symbols: Vec<String>,
    #[arg(long)]
    pub timeframe: Option<Timeframe>,
    /// Start: a date (00:00 UTC) or an RFC 3339 time.
    #[arg(long, value_parser = |s: &str| parse_when(s, false))]
    pub from: Option<DateTime<Utc>>,
    /// End, exclusive: a date (its whole day is included) or an RFC 3339 time.
    #[arg(long, value_parser = |s: &str| parse_when(s, true))]
    pub to: Option<DateTime<Utc>>,
    /// Symbols per batch (ad hoc; a job has its own).
    #[arg(long, default_value_t = 50)]
    pub batch_size: usize,
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
    /// Print the run summary as JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BackfillArgs) -> anyhow::Result<ExitCode> {
    // Before anything else: a signal during start-up must stop this run, not kill it.
    let cancel = CancellationToken::new();
    stop_on_signal(cancel.clone())?;
    let host = Host::command(args.config.as_ref(), &args.store).await?;
    let config = host.registry.config();
    let job = job(&args, &config.jobs)?;
    let bar = Bar::new(host.metrics.clone());
    let validator = Validator::new(config.validation.clone());
    // With `[publish]`, pages are published while the backfill runs, not only after.
    let relay = crate::publish::Relay::start(
        host.outbox.as_ref(),
        config.host.publish.as_ref(),
        &host.metrics,
    )
    .await?;
    let summary = run_job(
        &host.job_context(),
        &job,
        &validator,
        Utc::now(),
        &cancel,
        &bar,
    )
    .await;
    bar.finish();
    if let Some(relay) = relay {
        publish_rest(relay).await;
    }
    let waits = waits_line(&host.metrics.waits());
    if !waits.is_empty() {
        eprintln!("held back: {waits}");
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!("{}: {}", job.name, summary.line);
    }
    let again = resume_command();
    Ok(match summary.status {
        RunStatus::Ok => ExitCode::SUCCESS,
        // Stopping on request is not a failure of the command; what is left is said.
        RunStatus::Stopped => {
            eprintln!("stopped: what was committed is kept; resume with: {again}");
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!(
                "incomplete: {}; run it again to fetch what is missing: {again}",
                summary.reason.as_deref().unwrap_or("some windows failed")
            );
            ExitCode::FAILURE
        }
    })
}

/// Publishes what the outbox still holds, waiting up to a minute for NATS (not at all when
/// a running service's relay holds the outbox); what is left stays in the outbox for
/// `mdhost run` to publish, and is said.
async fn publish_rest(relay: crate::publish::Running) {
    match relay.finish(Duration::from_secs(60)).await {
        Ok(0) => {}
        Ok(left) => eprintln!(
            "published: {left} stored rows are still in the outbox (NATS unreachable, or another relay holds it); `mdhost run` publishes them"
        ),
        Err(e) => eprintln!("published: not all; the outbox keeps the rest ({e:#})"),
    }
}

/// The command line that started this process, to run again.
fn resume_command() -> String {
    std::env::args()
        .map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || "'\"$`\\".contains(c)) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// SIGTERM or SIGINT cancels the run (the page in flight may still commit); a second one
/// exits at once.
fn stop_on_signal(cancel: CancellationToken) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
        tokio::spawn(async move {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!(
                "{name}: stopping after the page in flight (at most {} s); send it again to exit now",
                crate::jobs::run::STOP_GRACE.as_secs()
            );
            cancel.cancel();
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            eprintln!(
                "exiting now: the page in flight is abandoned and fetched again by the next run"
            );
            std::process::exit(130);
        });
    }
    #[cfg(not(unix))]
    {
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: stopping after the page in flight");
                cancel.cancel();
            }
        });
    }
    Ok(())
}

/// Refuses bad arguments before any work (no store opened, nothing fetched): the job
/// they describe must be valid and, given ad hoc, its provider loaded and serving its
/// timeframe. A configured job's providers are checked with the configuration at start.
pub async fn check(args: &BackfillArgs) -> anyhow::Result<()> {
    let config = super::load_config(args.config.as_ref())?;
    let job = job(args, &config.jobs)?;
    if args.provider.is_none() {
        return Ok(());
    }
    let registry = super::service::plugins(config).await?;
    let served = registry.served();
    for provider in &job.providers {
        let info = served
            .get(provider)
            .with_context(|| format!("--provider: {}", not_loaded(&served, provider)))?;
        if let Some(why) = lacks_timeframe(info, job.timeframe) {
            bail!("--timeframe: {why}");
        }
    }
    Ok(())
}

/// The job to run: a configured one (its range overridable), or one made of the flags.
fn job(args: &BackfillArgs, jobs: &[JobConfig]) -> anyhow::Result<JobConfig> {
    let mut job = match (&args.job, &args.provider) {
        (Some(name), _) => jobs
            .iter()
            .find(|j| &j.name == name)
            .cloned()
            .with_context(|| {
                let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
                format!(
                    "no job named {name:?} in the configuration (jobs: {})",
                    names.join(", ")
                )
            })?,
        (None, Some(provider)) => {
            let (tf, from, to) = (
                args.timeframe.expect("required"),
                args.from.expect("required"),
                args.to.expect("required"),
            );
            JobConfig {
                // Deterministic, so the same command resumes from its checkpoints.
                name: format!(
                    "backfill-{provider}-{tf}-{}-{}",
                    from.format("%Y%m%dT%H%M"),
                    to.format("%Y%m%dT%H%M")
                ),
                kind: JobKind::Backfill { from, to },
                data: JobData::Bars,
                providers: vec![provider.clone()],
                symbols: args.symbols.clone(),
                symbols_from: None,
                timeframe: tf,
                batch_size: args.batch_size.max(1),
                concurrency: 1,
            }
        }
        (None, None) => {
            bail!("give --job NAME, or --provider with --symbols, --timeframe, --from and --to")
        }
    };
    if args.job.is_some() {
        match (&job.kind, args.from, args.to) {
            (JobKind::Backfill { .. }, None, None) => {}
            // A job gathered whole (actions, series, a listing) runs once as configured.
            (JobKind::Poll { .. }, None, None) if job.data != JobData::Bars => {}
            (_, Some(from), Some(to)) => {
                // Its own checkpoints: a poll job's record only what its polls covered.
                job.name = format!("{}-backfill", job.name);
                job.kind = JobKind::Backfill { from, to };
            }
            (JobKind::Poll { .. }, _, _) => bail!(
                "job {:?} is a poll job: give --from and --to to backfill it",
                job.name
            ),
            _ => bail!("give both --from and --to, or neither"),
        }
    }
    if let JobKind::Backfill { from, to } = job.kind
        && to <= from
    {
        bail!("--to ({to}) must be after --from ({from})");
    }
    Ok(job)
}

/// The progress bar: symbol-windows done, pages, bars, bar rate and ETA, and what held
/// each provider back (rate-limit waits, retries, quota refusals), so a slow run explains
/// itself. Hidden when stderr is not a terminal.
struct Bar {
    bar: ProgressBar,
    started: Instant,
    pages: std::sync::atomic::AtomicU64,
    bars: std::sync::atomic::AtomicU64,
    metrics: std::sync::Arc<crate::metrics::Metrics>,
}

/// "polygon waited 36 s for its rate limit (3 times), 2 retries" for each provider held back.
pub fn waits_line(waits: &std::collections::BTreeMap<String, crate::metrics::Waits>) -> String {
    waits
        .iter()
        .filter_map(|(provider, w)| {
            let mut parts = Vec::new();
            if w.rate_limit_waits > 0 {
                parts.push(format!(
                    "waited {} s for its rate limit ({} times)",
                    w.rate_limit_waited.as_secs(),
                    w.rate_limit_waits
                ));
            }
            if w.retries > 0 {
                parts.push(format!("{} retries", w.retries));
            }
            if w.quota_refused > 0 {
                parts.push(format!(
                    "{} requests refused by its spent quota",
                    w.quota_refused
                ));
            }
            (!parts.is_empty()).then(|| format!("{provider} {}", parts.join(", ")))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl Bar {
    fn new(metrics: std::sync::Arc<crate::metrics::Metrics>) -> Self {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} symbol-windows, {msg}, ETA {eta}",
            )
            .expect("valid template"),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar {
            bar,
            started: Instant::now(),
            pages: Default::default(),
            bars: Default::default(),
            metrics,
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, units: u64) {
        self.bar.set_length(units);
    }

    fn page(&self, bars: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let pages = self.pages.fetch_add(1, Relaxed) + 1;
        let total = self.bars.fetch_add(bars, Relaxed) + bars;
        let secs = self.started.elapsed().as_secs_f64().max(0.001); // float-ok: display only
        // Display only: the rate is not data.
        let waits = waits_line(&self.metrics.waits());
        self.bar.set_message(format!(
            "{pages} pages, {total} bars ({:.0} bars/s){}{waits}",
            total as f64 / secs, // float-ok: progress-bar rate, display only
            if waits.is_empty() { "" } else { "; " }
        ));
    }

    fn advance(&self, units: u64) {
        self.bar.inc(units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Waits;

    #[test]
    fn a_slow_run_says_what_held_each_provider_back() {
        let waits = |list: &[(&str, Waits)]| {
            list.iter()
                .map(|(p, w)| ((*p).to_owned(), w.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        assert_eq!(waits_line(&waits(&[])), "");
        assert_eq!(
            waits_line(&waits(&[
                (
                    "alphavantage",
                    Waits {
                        quota_refused: 4,
                        ..Waits::default()
                    }
                ),
                ("binance", Waits::default()),
                (
                    "polygon",
                    Waits {
                        rate_limit_waits: 3,
                        rate_limit_waited: Duration::from_millis(36_400),
                        retries: 2,
                        quota_refused: 0,
                    }
                ),
            ])),
            "alphavantage 4 requests refused by its spent quota; polygon waited 36 s for its rate limit (3 times), 2 retries"
        );
    }
}
