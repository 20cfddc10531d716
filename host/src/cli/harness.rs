//! `mdhost plugin test`, `plugin record` and `plugin parse`: the replay harness on the
//! command line.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Parser};

use super::plugin::{BarsOut, CallArgs, Format, parse_from, parse_symbol, parse_to};
use crate::domain::BarsRequest;
use crate::harness::record::{Plan, RecordJob, SecretToScrub};
use crate::harness::{self, Cassette, Harness, HarnessOptions, RecordMode, TestOptions};
use crate::net::ReqwestTransport;

#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The plugin component (.wasm).
    pub file: PathBuf,
    /// The response body that answers the plugin's first request (a saved provider
    /// response, such as a sample from its documentation).
    #[arg(long)]
    pub body: PathBuf,
    /// The HTTP status of that answer.
    #[arg(long, default_value_t = 200)]
    pub status: u16,
    /// A header of that answer, `Name: value` (repeatable).
    /// Default: `Content-Type: application/json`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Canonical symbols, comma-separated (AAPL,BRK.B,EUR/USD,BTC/USD).
    #[arg(long, value_delimiter = ',', required = true, value_parser = parse_symbol)]
    pub symbols: Vec<String>,
    /// Bar interval: 1m, 5m, 15m, 1h, 1d, 1w, 1mo, …
    #[arg(long)]
    pub timeframe: crate::domain::Timeframe,
    /// Start: a date (00:00 UTC) or an RFC 3339 time. Inclusive.
    #[arg(long, value_parser = parse_from)]
    pub from: chrono::DateTime<chrono::Utc>,
    /// End: a date (the whole day is included) or an RFC 3339 time (exclusive).
    #[arg(long, value_parser = parse_to)]
    pub to: chrono::DateTime<chrono::Utc>,
    /// Output format of the bars.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The plugin component (.wasm).
    pub file: PathBuf,
    /// Directory of cases (`<name>.yaml` cassettes and `<name>.golden.json` files).
    /// Default: tests/cassettes/<plugin name>/.
    #[arg(long)]
    pub cassettes: Option<PathBuf>,
    /// Rewrite the golden files, and each case's `expect.error`, from the current output
    /// instead of comparing. A case whose replay missed a request (the plugin asked for
    /// something the cassette does not have) is not blessed: its output is the replay's
    /// made-up transport error, not the plugin's answer.
    #[arg(long)]
    pub bless: bool,
    /// Print the report as JSON (case, check, pass, message).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The plugin component (.wasm).
    pub file: PathBuf,
    /// The cassette to write (or replay).
    #[arg(long)]
    pub cassette: PathBuf,
    /// none: strict replay of the existing cassette, no network; once: record if the
    /// cassette does not exist, else replay; new-episodes: replay what it has, record and
    /// append the rest; all: record everything again.
    #[arg(long, default_value = "none", value_parser = |s: &str| s.parse::<RecordMode>())]
    pub mode: RecordMode,
    /// The arguments of `mdhost plugin call` (without the file), after `--`.
    #[arg(last = true, required = true, value_name = "CALL ARGS")]
    pub call: Vec<String>,
}

/// `plugin call`'s arguments, parsed from the words after `--`.
#[derive(Debug, Parser)]
#[command(name = "mdhost plugin record … --")]
struct CallLine {
    #[command(flatten)]
    args: CallArgs,
}

/// The harness blocks on its own paused-clock runtime, so it runs on a blocking thread.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> anyhow::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .context("the harness thread failed")
}

fn cache_dir() -> anyhow::Result<Option<PathBuf>> {
    let config = super::load_config(None)?;
    Ok(config
        .host
        .cache_dir
        .or_else(crate::runtime::default_cache_dir))
}

pub async fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let opts = TestOptions {
        plugin: args.file,
        cases_dir: args.cassettes,
        bless: args.bless,
        harness: HarnessOptions {
            cache_dir: cache_dir()?,
            ..HarnessOptions::default()
        },
    };
    let report = blocking(move || harness::test_plugin(&opts)).await??;
    let mut out = std::io::stdout().lock();
    if args.json {
        let v = serde_json::json!({
            "plugin": report.plugin,
            "version": report.version,
            "file": report.file,
            "cases_dir": report.cases_dir,
            "passed": report.passed(),
            "results": report.results,
        });
        serde_json::to_writer_pretty(&mut out, &v)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report.to_text())?;
    }
    out.flush()?;
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every configured secret value, to keep out of the cassette whatever plugin it is for.
fn secrets_to_scrub(config: &crate::config::Config) -> Vec<SecretToScrub> {
    let mut out: Vec<SecretToScrub> = Vec::new();
    for settings in config.plugins.values() {
        for (name, s) in &settings.secrets {
            if let Some(value) = std::env::var(&s.env).ok().filter(|v| !v.is_empty())
                && !out.iter().any(|o| o.value == value)
            {
                out.push(SecretToScrub {
                    name: name.clone(),
                    value,
                });
            }
        }
    }
    out
}

pub async fn record(args: RecordArgs) -> anyhow::Result<ExitCode> {
    let argv = [
        "mdhost plugin call".to_owned(),
        args.file.display().to_string(),
    ]
    .into_iter()
    .chain(args.call.iter().cloned());
    let call = CallLine::try_parse_from(argv)
        .map_err(|e| anyhow!("the call arguments after `--`: {}", e.render()))?
        .args;
    if call.to <= call.from {
        bail!("--to ({}) must be after --from ({})", call.to, call.from);
    }
    let request = BarsRequest {
        symbols: call.symbols.clone(),
        timeframe: call.timeframe,
        start: call.from,
        end: call.to,
        cursor: None,
    };
    let config = super::load_config(call.config.as_ref())?;
    let cache_dir = config
        .host
        .cache_dir
        .clone()
        .or_else(crate::runtime::default_cache_dir);
    let plan = args
        .mode
        .plan(&args.cassette, args.cassette.is_file())
        .map_err(|m| anyhow!(m))?;
    match plan {
        Plan::Replay => {
            let (file, path) = (args.file.clone(), args.cassette.clone());
            let run = blocking(move || -> anyhow::Result<_> {
                let h = Harness::load(
                    &file,
                    &HarnessOptions {
                        cache_dir,
                        ..HarnessOptions::default()
                    },
                )?;
                let c = Cassette::load(&path)?;
                Ok(h.run(Arc::new(c), &request))
            })
            .await??;
            eprintln!(
                "replayed {} (no network): {} page(s), {} bar(s), {}",
                args.cassette.display(),
                run.outcome.pages.len(),
                run.outcome.bars.len(),
                run.outcome.end
            );
            if run.strict_failures.is_empty() {
                Ok(ExitCode::SUCCESS)
            } else {
                for f in &run.strict_failures {
                    eprintln!("  {}", f.replace('\n', "\n  "));
                }
                bail!(
                    "strict replay of {} failed; record again with --mode new-episodes or --mode all",
                    args.cassette.display()
                )
            }
        }
        Plan::Record { keep_existing } => {
            let secrets = secrets_to_scrub(&config);
            let job = RecordJob {
                plugin: args.file.clone(),
                cassette: args.cassette.clone(),
                request,
                keep_existing,
                settings: Box::new(move |info| config.plugin(&info.name)),
                secrets,
                live: Arc::new(ReqwestTransport::new()?),
                cache_dir,
                max_pages: call.max_pages,
            };
            let s = harness::record::record(job).await?;
            eprintln!(
                "wrote {}: {} exchange(s) recorded, {} kept, {} secret occurrence(s) scrubbed; {} page(s), {} bar(s), {}",
                args.cassette.display(),
                s.recorded,
                s.kept,
                s.scrubbed,
                s.outcome.pages.len(),
                s.outcome.bars.len(),
                s.outcome.end
            );
            eprintln!(
                "next: put it in tests/cassettes/<plugin>/ and run `mdhost plugin test {} --bless` to write its golden file",
                args.file.display()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `Name: value` as a header pair.
fn header(text: &str) -> anyhow::Result<(String, String)> {
    let (name, value) = text
        .split_once(':')
        .filter(|(n, _)| !n.trim().is_empty())
        .ok_or_else(|| anyhow!("--header {text:?}: expected `Name: value`"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

pub async fn parse(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let body = std::fs::read(&args.body)
        .with_context(|| format!("cannot read --body {}", args.body.display()))?;
    let mut headers = args
        .headers
        .iter()
        .map(|h| header(h))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if headers.is_empty() {
        headers.push(("Content-Type".into(), "application/json".into()));
    }
    let size = body.len();
    let answer = harness::parse::Answer {
        status: args.status,
        headers,
        body,
    };
    let req = BarsRequest {
        symbols: args.symbols,
        timeframe: args.timeframe,
        start: args.from,
        end: args.to,
        cursor: None,
    };
    let opts = HarnessOptions {
        cache_dir: cache_dir()?,
        ..HarnessOptions::default()
    };
    let plugin = args.file.clone();
    let parsed = {
        let req = req.clone();
        blocking(move || harness::parse::parse_body(&plugin, &opts, answer, &req)).await??
    };
    let mut err = std::io::stderr().lock();
    match &parsed.request {
        Some(r) => writeln!(
            err,
            "request: {r}\nanswered with {} (HTTP {}, {size} bytes)",
            args.body.display(),
            args.status
        )?,
        None => writeln!(err, "the plugin made no request")?,
    }
    for r in &parsed.refused {
        writeln!(err, "refused (plugin parse answers one request): {r}")?;
    }
    let page = match parsed.page {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => {
            writeln!(err, "the plugin answered {}: {e}", e.kind())?;
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => {
            writeln!(err, "the call failed ({}): {e}", e.kind())?;
            return Ok(ExitCode::FAILURE);
        }
    };
    let mut out = BarsOut::new(std::io::stdout().lock(), args.format)?;
    out.page(&page.bars)?;
    out.finish()?;
    writeln!(
        err,
        "{} bar(s) from {} {}{}",
        page.bars.len(),
        parsed.info.name,
        parsed.info.version,
        page.next_cursor
            .as_deref()
            .map(|c| format!("; next cursor: {c}"))
            .unwrap_or_default()
    )?;
    for (i, reasons) in &parsed.violations {
        let b = &page.bars[*i];
        writeln!(
            err,
            "would be quarantined: {} {} {}: {}",
            b.symbol,
            b.timeframe,
            b.start.to_rfc3339(),
            reasons.join("; ")
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
