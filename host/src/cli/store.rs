//! `mdhost migrate`, `mdhost bars`, `mdhost actions`, `mdhost series`, `mdhost
//! instruments`, `mdhost freshness`, `mdhost quarantine`, `mdhost quotas`: the store from
//! the command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use clap::Args;

use super::output;
use super::plugin::{Format, parse_from, parse_to};
use crate::domain::Timeframe;
use crate::store::{self, ENV_URL, FreshnessReport, Store, StoreUrl};

/// `--store`, shared by every command that opens the store.
#[derive(Debug, Clone, Args)]
pub struct StoreArg {
    /// Store URL: postgres://user@host/db, sqlite:path, or a file path for SQLite.
    /// Default: $MDHOST_DATABASE_URL, else `[host] store` of the configuration, else
    /// sqlite://data/mdhost.db.
    #[arg(long = "store", value_name = "URL")]
    pub url: Option<String>,
}

impl StoreArg {
    /// The first of: `--store`, `$MDHOST_DATABASE_URL`, `[host] store` of the
    /// configuration (`config`, or ./plugins.toml when it exists), the SQLite default —
    /// the order `mdhost run` uses, so these commands read the store the service writes.
    /// The configuration is read only when it decides, so a broken plugins.toml does not
    /// get in the way of `--store`.
    pub fn resolve(&self, config: Option<&PathBuf>) -> anyhow::Result<StoreUrl> {
        let explicit = self.url.as_deref().filter(|u| !u.is_empty());
        let from_env = std::env::var(ENV_URL).is_ok_and(|v| !v.is_empty());
        let configured = match (explicit, from_env) {
            (None, false) => super::load_config(config)?.host.store,
            _ => None,
        };
        self.resolve_with(configured.as_ref())
    }

    /// As [`StoreArg::resolve`], with the configuration's `[host] store` already read.
    pub fn resolve_with(&self, configured: Option<&StoreUrl>) -> anyhow::Result<StoreUrl> {
        StoreUrl::resolve(self.url.as_deref(), configured)
            .with_context(|| format!("--store, ${ENV_URL} or [host] store"))
    }

    /// Opens and migrates the store (see [`StoreArg::resolve`] for which one).
    pub async fn open(
        &self,
        config: Option<&PathBuf>,
    ) -> anyhow::Result<(StoreUrl, Arc<dyn Store>)> {
        let url = self.resolve(config)?;
        let store = open_url(&url).await?;
        Ok((url, store))
    }
}

/// Opens and migrates the store at `url`.
pub async fn open_url(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    match store::open(url).await {
        Ok(store) => Ok(store),
        // It names the store and the cause itself.
        Err(e @ store::StoreError::Connect { .. }) => Err(e.into()),
        Err(e) => Err(anyhow::Error::new(e))
            .with_context(|| format!("cannot open the store {}", url.redacted())),
    }
}

/// Opens the store at `url` for a run that writes: once opened, a store that goes away
/// mid-run is retried and then spooled to `data/spool.jsonl`, not lost.
pub async fn open_for_writing(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    Ok(resilient(open_url(url).await?))
}

/// As [`open_for_writing`], for a host of a cluster: the Postgres store at `url`, its
/// writes refused once `fence`'s term is no longer the newest.
pub async fn open_fenced(
    url: &StoreUrl,
    fence: Arc<store::Fence>,
) -> anyhow::Result<Arc<dyn Store>> {
    let StoreUrl::Postgres(pg) = url else {
        anyhow::bail!(
            "[cluster] needs a Postgres store (its hosts share it); the store is {}",
            url.redacted()
        );
    };
    Ok(resilient(Arc::new(
        store::PgStore::connect(pg).await?.fenced(fence),
    )))
}

/// The Postgres store at `url` for the work items a host of a cluster runs: unfenced,
/// since any host runs them and they are idempotent, with a spool of its own
/// (`data/spool-work.jsonl`) beside the service's.
pub async fn open_for_work(url: &StoreUrl) -> anyhow::Result<Arc<dyn Store>> {
    Ok(Arc::new(store::Resilient::new(
        open_url(url).await?,
        std::path::Path::new("data/spool-work.jsonl"),
        store::RetryPolicy::default(),
    )))
}

fn resilient(store: Arc<dyn Store>) -> Arc<dyn Store> {
    Arc::new(store::Resilient::new(
        store,
        store::Resilient::default_spool_path(),
        store::RetryPolicy::default(),
    ))
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct BarsArgs {
    /// Canonical symbol (AAPL, BRK.B, EUR/USD, BTC/USD).
    #[arg(long)]
    pub symbol: String,
    /// Bar interval: 1m, 5m, 1h, 1d, …
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Start: a date (00:00 UTC) or an RFC 3339 time. Inclusive. Default: the earliest.
    #[arg(long, value_parser = parse_from)]
    pub from: Option<DateTime<Utc>>,
    /// End: a date (the whole day is included) or an RFC 3339 time (exclusive).
    /// Default: no end.
    #[arg(long, value_parser = parse_to)]
    pub to: Option<DateTime<Utc>>,
    /// Restate prices from the stored splits and dividends: `none` (as traded), `splits`
    /// or `all` (splits and cash dividends). Default: as the provider sent them, which
    /// the `adjustment` column says (Yahoo sends split-adjusted prices, for one).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(crate::adjust::Target::NAMES))]
    pub adjust: Option<String>,
    /// With --adjust: count the events with ex-dates up to this day (YYYY-MM-DD), so an
    /// old answer can be reproduced. Default: today (UTC).
    #[arg(long, requires = "adjust")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Csv)]
    pub format: Format,
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// Canonical symbol (AAPL, BRK.B).
    #[arg(long)]
    pub symbol: String,
    /// First ex-date, inclusive (YYYY-MM-DD). Default: the earliest.
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last ex-date, inclusive (YYYY-MM-DD). Default: no end.
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

pub async fn actions(args: ActionsArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = day_range(args.from, args.to)?;
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = crate::export::stored_actions(&*store, &args.symbol, from, to).await?;
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        let splits = store.splits(&args.symbol, from, to).await?;
        let dividends = store.dividends(&args.symbol, from, to).await?;
        output::actions_text(&mut out, &splits, &dividends)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct SeriesArgs {
    /// The series id (FRED's `GDP`, `UNRATE`, …).
    #[arg(long)]
    pub id: String,
    /// First observation date, inclusive (YYYY-MM-DD). Default: the earliest.
    #[arg(long)]
    pub from: Option<chrono::NaiveDate>,
    /// Last observation date, inclusive (YYYY-MM-DD). Default: no end.
    #[arg(long)]
    pub to: Option<chrono::NaiveDate>,
    /// The values as they were published on this day (the vintage valid then). Default:
    /// the latest.
    #[arg(long, value_name = "DATE")]
    pub as_of: Option<chrono::NaiveDate>,
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

/// Prints a series' stored observations as JSON (exact decimals as strings, a missing
/// value as null).
pub async fn series(args: SeriesArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = day_range(args.from, args.to)?;
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let report = crate::export::stored_series(&*store, &args.id, from, to, args.as_of).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &report)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Args)]
pub struct InstrumentsArgs {
    /// Only this provider's listing. Default: every provider's.
    #[arg(long)]
    pub provider: Option<String>,
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

/// Prints the stored instrument listings as JSON.
pub async fn instruments(args: InstrumentsArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let list = store.instruments(args.provider.as_deref()).await?;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &list)?;
    writeln!(out)?;
    Ok(ExitCode::SUCCESS)
}

/// `--from`/`--to` days, both inclusive, as the store's half-open range.
fn day_range(
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
) -> anyhow::Result<(chrono::NaiveDate, chrono::NaiveDate)> {
    let start = from.unwrap_or(chrono::NaiveDate::MIN);
    let end = to.map_or(chrono::NaiveDate::MAX, |d| d.succ_opt().unwrap_or(d));
    if end <= start {
        bail!("--to ({end}) is before --from ({start})");
    }
    Ok((start, end))
}

#[derive(Debug, Args)]
pub struct FreshnessArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Settings file: its [validation] section assigns calendars, and its `[host] store` is
    /// used when neither --store nor $MDHOST_DATABASE_URL is given. Default: ./plugins.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct QuarantineArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Show at most this many, newest first.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// What to show: quarantined bars, corporate actions, or records (economic
    /// observations and instrument listings).
    #[arg(long, value_enum, default_value_t = QuarantineKind::Bars)]
    pub kind: QuarantineKind,
    /// Settings file whose `[host] store` is used when neither --store nor
    /// $MDHOST_DATABASE_URL is given. Default: ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

#[derive(Debug, Args)]
pub struct QuotasArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Settings file: its plugins directory and `[plugins.<name>] quota` overrides, and its
    /// `[host] store` when neither --store nor $MDHOST_DATABASE_URL is given. Default:
    /// ./plugins.toml, when it exists.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArg,
}

pub async fn quotas(args: QuotasArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.config.as_ref())?;
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let registry = super::service::plugins(config).await?;
    let now = Utc::now();
    let usage = store
        .quota_usage(crate::domain::QuotaPeriod::Month.window(now).0)
        .await?;
    let lines = crate::quotas::report(&registry.quotas(now), &usage, now);
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &lines)?;
        writeln!(out)?;
    } else {
        output::quotas_text(&mut out, &lines)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    // Opening migrates; saying so explicitly is the command's whole point.
    let (url, store) = args.store.open(args.config.as_ref()).await?;
    store.migrate().await?;
    println!("{} store {} is up to date", store.backend(), url.redacted());
    Ok(ExitCode::SUCCESS)
}

pub async fn bars(args: BarsArgs) -> anyhow::Result<ExitCode> {
    let from = args.from.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let to = args.to.unwrap_or(DateTime::<Utc>::MAX_UTC);
    if to <= from {
        bail!("--to ({to}) must be after --from ({from})");
    }
    let adjust = args
        .adjust
        .as_deref()
        .map(|a| crate::adjusted::Adjust::parse(a, args.as_of))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--adjust: {e}"))?;
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let bars =
        crate::adjusted::bars(&*store, &args.symbol, args.timeframe, from, to, adjust).await?;
    let mut out = std::io::stdout().lock();
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &bars)?;
            writeln!(out)?;
        }
        Format::Csv => crate::export::stored_bars_csv(&mut out, &bars)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn freshness(args: FreshnessArgs) -> anyhow::Result<ExitCode> {
    let config = super::load_config(args.config.as_ref())?;
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    let rows = store.freshness().await?;
    let report = FreshnessReport::new(&rows, &config.validation, Utc::now());
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        output::freshness_text(&mut out, &rows, &report.stale)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuarantineKind {
    Bars,
    Actions,
    Records,
}

pub async fn quarantine(args: QuarantineArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = args.store.open(args.config.as_ref()).await?;
    // Actions and records are shown as JSON: their raw forms differ by kind.
    let other = match args.kind {
        QuarantineKind::Bars => None,
        QuarantineKind::Actions => Some(serde_json::to_value(
            store.quarantined_actions(args.limit).await?,
        )?),
        QuarantineKind::Records => Some(serde_json::to_value(
            store.quarantined_records(args.limit).await?,
        )?),
    };
    if let Some(rows) = other {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows = store.quarantine(args.limit).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &rows)?;
        writeln!(out)?;
    } else {
        output::quarantine_text(&mut out, &rows)?;
    }
    Ok(ExitCode::SUCCESS)
}
