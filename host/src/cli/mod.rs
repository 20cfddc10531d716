//! The `mdhost` command line. Parsing and output live here; the work is done by the
//! library modules. Errors end the process with one line on stderr and a non-zero exit.

mod backfill;
#[cfg(feature = "harness")]
mod harness;
mod ingest;
mod keys;
mod output;
mod plugin;
mod run;
mod service;
mod store;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Config;

#[derive(Debug, Parser)]
#[command(
    name = "mdhost",
    version,
    about = "Market-data collector hosting provider adapters as WebAssembly components"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service: scheduled jobs, hot-reloaded plugins, the admin API. Stops
    /// cleanly on SIGTERM or SIGINT.
    Run(run::RunArgs),
    /// Fetch a historical range once, with a progress bar; resumable after any stop.
    ///
    /// Each window of each series is marked done only with its last page, so running the
    /// same command again fetches exactly what is missing, resuming a window at the page
    /// where it stopped. SIGTERM or SIGINT stops after the page in flight (a second signal
    /// exits at once); the run is recorded as `stopped`.
    ///
    /// Exit status: 0 when the whole range is stored, or when stopped on request (the
    /// message says how to resume); 1 when ranges were left uncovered (the summary names
    /// them; run the command again) or the command could not start.
    Backfill(backfill::BackfillArgs),
    /// Work with plugin components: inspect them, call them.
    #[command(subcommand)]
    Plugin(plugin::PluginCommand),
    /// Create or upgrade the store's tables (also done whenever the store is opened).
    Migrate(store::MigrateArgs),
    /// Print stored bars of one series.
    Bars(store::BarsArgs),
    /// Print the stored splits and dividends of one symbol, each source's own.
    Actions(store::ActionsArgs),
    /// Print a stored economic series' observations (a vintage with --as-of) as JSON.
    Series(store::SeriesArgs),
    /// Print the stored instrument listings (of one provider with --provider) as JSON.
    Instruments(store::InstrumentsArgs),
    /// Show when each series last got a bar and which are stale.
    Freshness(store::FreshnessArgs),
    /// Show what was quarantined with every reason it was rejected: bars, or with --kind
    /// corporate actions or records (observations and instrument listings).
    Quarantine(store::QuarantineArgs),
    /// Show each provider's request quotas: used and left in this UTC day or month, and
    /// until when a spent one refuses requests.
    Quotas(store::QuotasArgs),
    /// Create, list and revoke the read API's keys (`[host] api_addr` turns the API on).
    Keys(keys::KeysArgs),
}

/// `--config`: an explicit file must exist; without one, `./plugins.toml` is used when
/// present, else built-in defaults.
pub(crate) fn load_config(path: Option<&PathBuf>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if std::path::Path::new("plugins.toml").is_file() => {
            Ok(Config::load("plugins.toml".as_ref())?)
        }
        None => Ok(Config::empty()),
    }
}

/// Logs go to stderr; `MDHOST_LOG` (tracing's filter syntax) overrides `default_level`.
fn init_logging(format: LogFormat, default_level: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("MDHOST_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        LogFormat::Human => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    // One-shot commands print results on stdout; only warnings belong on stderr. The
    // service's log is its output.
    let level = match cli.command {
        Command::Run(_) => "info",
        _ => "warn",
    };
    init_logging(cli.log_format, level);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Run(args) => run::run(args).await,
            Command::Backfill(args) => match backfill::check(&args).await {
                Ok(()) => backfill::run(args).await,
                Err(e) => Err(e),
            },
            Command::Plugin(cmd) => plugin::run(cmd).await,
            Command::Migrate(args) => store::migrate(args).await,
            Command::Bars(args) => store::bars(args).await,
            Command::Actions(args) => store::actions(args).await,
            Command::Series(args) => store::series(args).await,
            Command::Instruments(args) => store::instruments(args).await,
            Command::Freshness(args) => store::freshness(args).await,
            Command::Quarantine(args) => store::quarantine(args).await,
            Command::Quotas(args) => store::quotas(args).await,
            Command::Keys(args) => keys::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            // One line: the error and its causes, joined.
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
