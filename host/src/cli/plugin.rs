//! `mdhost plugin …`: inspect a component, or call it live with the real capabilities.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::bail;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};

use super::output;
use crate::domain::{
    ActionsPage, ActionsRequest, AssetClass, BarsRequest, DataKind, RawBar, Timeframe,
};
use crate::runtime::pages::{End, Next, PageRecord};
use crate::runtime::{Plugin, Runtime, RuntimeOptions};

#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Print what a plugin says about itself (`describe`), after loading and validating it.
    Inspect {
        /// The plugin component (.wasm).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Fetch bars through a plugin, live, following every page, and print them.
    Call(CallArgs),
    /// Fetch corporate actions (splits, dividends) through a plugin, live, following
    /// every page, check them by the host's rules and print them as JSON (exact values
    /// kept; what breaks a rule under "rejected", with its reasons).
    Actions(ActionsArgs),
    /// Run a plugin against its cassettes (no network): golden outputs and the
    /// conformance checklist. Exits non-zero when any check fails.
    #[cfg(feature = "harness")]
    Test(super::harness::TestArgs),
    /// Make a `plugin call` live and record its HTTP exchanges into a cassette
    /// (`--mode` decides when the network is used).
    #[cfg(feature = "harness")]
    Record(super::harness::RecordArgs),
    /// Feed one saved response body to a plugin (no network): its first request is
    /// answered with the body, and the bars it makes of it are printed and checked as the
    /// host would. For trying a provider's sample without knowing the URL the plugin builds.
    #[cfg(feature = "harness")]
    Parse(super::harness::ParseArgs),
}

#[derive(Debug, Args)]
pub struct ActionsArgs {
    /// The plugin component (.wasm).
    pub file: PathBuf,
    /// Canonical symbols, comma-separated.
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_symbol)]
    pub symbols: Vec<String>,
    /// First ex-date, inclusive (YYYY-MM-DD).
    #[arg(long)]
    pub from: chrono::NaiveDate,
    /// Last ex-date, inclusive (YYYY-MM-DD).
    #[arg(long)]
    pub to: chrono::NaiveDate,
    /// Settings file (allow_hosts, secrets, options). Default: ./plugins.toml if present.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many pages per symbol batch.
    #[arg(long, default_value_t = 1_000)]
    pub max_pages: u32,
    /// Write the actions that pass the host's rules to a store (and quarantine the rest)
    /// instead of printing them. Without a URL: $MDHOST_DATABASE_URL, `[host] store`, else
    /// sqlite://data/mdhost.db.
    #[arg(long = "store", value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct CallArgs {
    /// The plugin component (.wasm).
    pub file: PathBuf,
    /// Canonical symbols, comma-separated (AAPL,BRK.B,EUR/USD,BTC/USD).
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_symbol)]
    pub symbols: Vec<String>,
    /// Bar interval: 1m, 5m, 15m, 1h, 1d, 1w, 1mo, …
    #[arg(long)]
    pub timeframe: Timeframe,
    /// Start: a date (00:00 UTC) or an RFC 3339 time. Inclusive.
    #[arg(long, value_parser = parse_from)]
    pub from: DateTime<Utc>,
    /// End: a date (the whole day is included) or an RFC 3339 time (exclusive).
    #[arg(long, value_parser = parse_to)]
    pub to: DateTime<Utc>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
    /// Settings file (allow_hosts, secrets, limits). Default: ./plugins.toml if present.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this many pages per symbol batch (guards against endless pagination).
    #[arg(long, default_value_t = 10_000)]
    pub max_pages: u32,
    /// Validate the bars and write them to a store instead of printing them. Without a
    /// URL: $MDHOST_DATABASE_URL, else sqlite://data/mdhost.db.
    #[arg(long = "store", value_name = "URL", num_args = 0..=1, default_missing_value = "")]
    pub store: Option<String>,
    /// Asset class for validation of symbols that [validation.instruments] does not name.
    /// Default: each symbol's by its spelling (EUR/USD forex, BTC/USD crypto, ^GSPC an
    /// index, else equity) among the classes the plugin declares, as the service reads it.
    #[arg(long, value_parser = parse_asset_class)]
    pub asset_class: Option<AssetClass>,
}

fn parse_asset_class(s: &str) -> Result<AssetClass, String> {
    s.parse()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Csv,
}

/// Bars written page by page: a JSON array (one bar per line) or CSV under one header.
pub(super) struct BarsOut<W: Write> {
    out: W,
    format: Format,
    first: bool,
}

impl<W: Write> BarsOut<W> {
    pub(super) fn new(mut out: W, format: Format) -> std::io::Result<Self> {
        match format {
            Format::Json => out.write_all(b"[")?,
            Format::Csv => crate::export::bars_csv_header(&mut out)?,
        }
        Ok(BarsOut {
            out,
            format,
            first: true,
        })
    }

    pub(super) fn page(&mut self, bars: &[RawBar]) -> std::io::Result<()> {
        match self.format {
            Format::Json => {
                for b in bars {
                    self.out
                        .write_all(if self.first { b"\n  " } else { b",\n  " })?;
                    serde_json::to_writer(&mut self.out, b)?;
                    self.first = false;
                }
            }
            Format::Csv => crate::export::bars_csv_rows(&mut self.out, bars)?,
        }
        self.out.flush()
    }

    pub(super) fn finish(mut self) -> std::io::Result<()> {
        if self.format == Format::Json {
            self.out.write_all(b"\n]\n")?;
        }
        self.out.flush()
    }
}

/// One canonical symbol of a comma-separated list. An empty one (`--symbols ""`, or a
/// stray comma) would be sent to the provider as a request for nothing.
pub(super) fn parse_symbol(s: &str) -> Result<String, String> {
    match s.trim() {
        "" => Err(
            "a symbol is empty: give canonical symbols separated by commas, like AAPL,MSFT".into(),
        ),
        symbol => Ok(symbol.to_owned()),
    }
}

pub(super) fn parse_from(s: &str) -> Result<DateTime<Utc>, String> {
    crate::config::parse_when(s, false)
}

pub(super) fn parse_to(s: &str) -> Result<DateTime<Utc>, String> {
    crate::config::parse_when(s, true)
}

pub async fn run(cmd: PluginCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PluginCommand::Inspect { file, json } => inspect(file, json).await,
        PluginCommand::Call(args) => call(args).await,
        PluginCommand::Actions(args) => actions(args).await,
        #[cfg(feature = "harness")]
        PluginCommand::Test(args) => super::harness::test(args).await,
        #[cfg(feature = "harness")]
        PluginCommand::Record(args) => super::harness::record(args).await,
        #[cfg(feature = "harness")]
        PluginCommand::Parse(args) => super::harness::parse(args).await,
    }
}

async fn runtime(cache_dir: Option<PathBuf>) -> anyhow::Result<Runtime> {
    // One-off commands report on the terminal, not to a metrics endpoint.
    let mut opts = RuntimeOptions::standard(Arc::new(crate::runtime::NoMetrics))?;
    if cache_dir.is_some() {
        opts.cache_dir = cache_dir;
    }
    Ok(Runtime::new(opts)?)
}

async fn inspect(file: PathBuf, json: bool) -> anyhow::Result<ExitCode> {
    let config = super::load_config(None)?;
    let rt = runtime(config.host.cache_dir.clone()).await?;
    let plugin = rt
        .load_file(&file, |info| config.plugin(&info.name))
        .await?;
    let mut out = std::io::stdout().lock();
    if json {
        let v = serde_json::json!({
            "file": file.display().to_string(),
            "sha256": plugin.hash(),
            "wit_version": plugin.wit_version(),
            "info": plugin.info(),
        });
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        output::info_text(
            &mut out,
            plugin.info(),
            &file.display().to_string(),
            plugin.hash(),
            plugin.wit_version(),
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Fetches every page for one batch of symbols with the runtime's page loop (cursor
/// following, the repeated-cursor guard, the page cap), handing each page to `each` as it
/// arrives: nothing is held beyond one page.
pub(super) async fn fetch_pages(
    plugin: &Plugin,
    symbols: &[String],
    args: &CallArgs,
    mut each: impl AsyncFnMut(PageRecord, Vec<RawBar>) -> Result<(), String>,
) -> anyhow::Result<()> {
    let req = BarsRequest {
        symbols: symbols.to_vec(),
        timeframe: args.timeframe,
        start: args.from,
        end: args.to,
        cursor: None,
    };
    let who = format!("{} {}", plugin.name(), symbols.join(","));
    let mut pages = plugin.pages(&req, args.max_pages);
    loop {
        match pages.next().await {
            Next::Page { record, bars } => {
                if let Err(m) = each(record, bars).await {
                    bail!("{who}: {m}");
                }
            }
            Next::End(End::Complete) => return Ok(()),
            Next::End(End::Call(e)) => bail!(
                "plugin {} {} failed on page {}: {e}",
                plugin.name(),
                plugin.version(),
                pages.fetched() + 1
            ),
            Next::End(End::Provider(e)) => bail!("{who}: {e}"),
            Next::End(end @ End::Endless { .. }) => {
                bail!("{who}: {end} (--max-pages {})", args.max_pages)
            }
            Next::End(end) => bail!("{who}: {end}"),
        }
    }
}

async fn actions(args: ActionsArgs) -> anyhow::Result<ExitCode> {
    if args.to < args.from {
        bail!("--to ({}) is before --from ({})", args.to, args.from);
    }
    let config = super::load_config(args.config.as_ref())?;
    let rt = runtime(config.host.cache_dir.clone()).await?;
    let plugin = rt
        .load_file(&args.file, |info| config.plugin(&info.name))
        .await?;
    if !plugin.info().kinds.contains(&DataKind::CorporateActions) {
        bail!(
            "plugin {} does not serve corporate actions (it serves: {})",
            plugin.name(),
            plugin
                .info()
                .kinds
                .iter()
                .map(output::word)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let batch = plugin.info().max_symbols_per_request.max(1) as usize;
    // The contract's range is half-open; --to is the last ex-date wanted.
    let end = args.to.succ_opt().unwrap_or(args.to);
    let mut all = ActionsPage::default();
    let mut failures = Vec::new();
    for chunk in args.symbols.chunks(batch) {
        let req = ActionsRequest {
            symbols: chunk.to_vec(),
            start: args.from,
            end,
            cursor: None,
        };
        match crate::actions::fetch_all(&plugin, &req, args.max_pages).await {
            Ok(p) => {
                all.splits.extend(p.splits);
                all.dividends.extend(p.dividends);
            }
            Err(e) => failures.push(format!("{}: {e}", chunk.join(","))),
        }
    }
    // Checked by the host's rules, as they are before storing: the exact values kept,
    // what breaks a rule listed with its reasons.
    let checked = crate::actions::check(&all, &args.symbols, args.from, end);
    let rejected = checked.rejected.len();
    if let Some(url) = &args.store {
        let url = super::store::StoreArg {
            url: Some(url.clone()),
        }
        .resolve_with(config.host.store.as_ref())?;
        let store = super::store::open_for_writing(&url).await?;
        let (splits, dividends) = (checked.splits.len(), checked.dividends.len());
        let sum = crate::actions::store(&*store, &plugin, checked, None).await?;
        println!(
            "{splits} split(s), {dividends} dividend(s): {} new, {} revised, {} unchanged; {} quarantined",
            sum.inserted, sum.revised, sum.unchanged, sum.quarantined
        );
    } else {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &checked)?;
        writeln!(out)?;
    }
    if rejected > 0 && args.store.is_none() {
        eprintln!(
            "{rejected} action(s) break the host's rules and would be quarantined (\"rejected\")"
        );
    }
    for f in &failures {
        eprintln!("error: {f}");
    }
    Ok(if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn call(args: CallArgs) -> anyhow::Result<ExitCode> {
    if args.to <= args.from {
        bail!("--to ({}) must be after --from ({})", args.to, args.from);
    }
    let config = super::load_config(args.config.as_ref())?;
    let rt = runtime(config.host.cache_dir.clone()).await?;
    let plugin = rt
        .load_file(&args.file, |info| config.plugin(&info.name))
        .await?;
    if !plugin.info().timeframes.contains(&args.timeframe) {
        let offered: Vec<String> = plugin
            .info()
            .timeframes
            .iter()
            .map(ToString::to_string)
            .collect();
        bail!(
            "plugin {} does not offer timeframe {}; it offers {}",
            plugin.name(),
            args.timeframe,
            offered.join(", ")
        );
    }
    if let Some(url) = &args.store {
        return super::ingest::call_into_store(&plugin, &args, url, &config).await;
    }
    let batch = plugin.info().max_symbols_per_request.max(1) as usize;
    let mut failures = Vec::new();
    // Pages are written as they arrive: an answer of any length takes one page of memory.
    let mut out = BarsOut::new(std::io::stdout().lock(), args.format)?;
    for chunk in args.symbols.chunks(batch) {
        let result = fetch_pages(&plugin, chunk, &args, async |_, bars| {
            out.page(&bars)
                .map_err(|e| format!("writing the bars: {e}"))
        })
        .await;
        // One failing symbol does not stop the others; the exit code reports it.
        if let Err(e) = result {
            failures.push(format!("{e:#}"));
        }
    }
    out.finish()?;
    if failures.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!(
            "{} of {} symbol batches failed: {}",
            failures.len(),
            args.symbols.len().div_ceil(batch),
            failures.join("; ")
        )
    }
}
