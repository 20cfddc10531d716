//! `mdhost plugin call … --store`: fetch through the plugin, validate, write to the store,
//! leave a `runs` row, and print one summary line.

use std::process::ExitCode;

use anyhow::{Context, bail};
use chrono::Utc;

use super::plugin::{CallArgs, fetch_pages};
use super::store::StoreArg;
use crate::config::Config;
use crate::domain::ClassSet;
use crate::ingest::{Commit, Ingested, Page, ingest};
use crate::jobs::book::RunBook;
use crate::runtime::Plugin;
use crate::store::{RunOutcome, RunStart, RunStatus, Source};
use crate::validate::{Request, Validator};

pub async fn call_into_store(
    plugin: &Plugin,
    args: &CallArgs,
    url: &str,
    config: &Config,
) -> anyhow::Result<ExitCode> {
    // A bare `--store` means the default: $MDHOST_DATABASE_URL, `[host] store`, SQLite.
    let url = StoreArg {
        url: Some(url.to_owned()),
    }
    .resolve_with(config.host.store.as_ref())?;
    let store = super::store::open_for_writing(&url).await?;
    let info = plugin.info();
    // `--asset-class` reads every symbol as that class; else each by its spelling.
    let classes = args
        .asset_class
        .map_or_else(|| info.classes(), ClassSet::of);
    let validator = Validator::new(config.validation.clone());
    let source = Source {
        provider: plugin.name().to_owned(),
        version: plugin.version().to_owned(),
    };
    let started_at = Utc::now();
    let book = RunBook::open(
        &*store,
        RunStart {
            job: "cli:plugin-call".into(),
            provider: source.provider.clone(),
            plugin_version: source.version.clone(),
            started_at,
        },
    )
    .await;
    let batch = info.max_symbols_per_request.max(1) as usize;
    let mut total = Ingested::default();
    let (mut ok, mut failed) = (0u64, 0u64);
    let mut errors = Vec::new();
    for chunk in args.symbols.chunks(batch) {
        let req = Request {
            symbols: chunk.to_vec(),
            timeframe: args.timeframe,
            start: args.from,
            end: args.to,
            classes,
        };
        let (done, result) = store_pages(plugin, args, &req, &source, &*store, &validator).await;
        // Pages written before a failure stay written and are counted.
        total += done;
        match result {
            Ok(()) => ok += chunk.len() as u64,
            Err(e) => {
                // One failing batch does not stop the others; freshness and the run say so.
                failed += chunk.len() as u64;
                let msg = format!("{e:#}");
                book.failed(
                    chunk,
                    args.timeframe,
                    &source.provider,
                    &validator,
                    classes,
                    &msg,
                )
                .await;
                errors.push(msg);
            }
        }
    }
    let outcome = RunOutcome {
        finished_at: Utc::now(),
        status: RunStatus::from_counts(ok, failed),
        reason: (failed > 0).then(|| format!("{failed} of {} symbols failed", ok + failed)),
        symbols_ok: ok,
        symbols_failed: failed,
        bars_fetched: total.received,
        bars_written: total.written(),
        bars_rejected: total.rejected,
        bars_skipped: total.skipped(),
        errors: errors.clone(),
        uncovered: Vec::new(),
    };
    let run_id = book
        .close(&outcome)
        .await
        .context("the store took neither the run's row nor its record")?;
    println!(
        "{} {}: {}; run {} in {}",
        source.provider,
        args.timeframe,
        summary(ok, failed, &total),
        if run_id == 0 {
            "(spooled)".to_owned()
        } else {
            run_id.to_string()
        },
        url.redacted()
    );
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        bail!(
            "{failed} of {} symbols failed: {}",
            ok + failed,
            errors.join("; ")
        )
    }
}

/// What a call did, in the words of its one output line.
fn summary(ok: u64, failed: u64, total: &Ingested) -> String {
    let w = total.write;
    format!(
        "{ok} symbols ok, {failed} failed; {} bars received, {} stored ({} new, {} updated, {} unchanged), {} quarantined, {} quality events{}",
        total.received,
        total.accepted,
        w.inserted,
        w.updated,
        w.unchanged,
        total.rejected,
        w.events,
        if w.spooled {
            " (store unreachable: spooled for replay)"
        } else {
            ""
        },
    )
}

/// Fetches one batch's pages and writes each as it arrives, validated against the pages
/// before it. What was written before a failure is counted all the same.
async fn store_pages(
    plugin: &Plugin,
    args: &CallArgs,
    req: &Request,
    source: &Source,
    store: &dyn crate::store::Store,
    validator: &Validator,
) -> (Ingested, anyhow::Result<()>) {
    let mut done = Ingested::default();
    let mut store_error: Option<anyhow::Error> = None;
    let fetched = fetch_pages(plugin, &req.symbols, args, async |record, raw| {
        let page = Page {
            req,
            source,
            last: record.next_cursor.is_none(),
            adjusted: &record.adjusted,
            run: None,
        };
        match ingest(store, validator, page, raw, Commit::default(), Utc::now()).await {
            Ok(got) => {
                done += got;
                Ok(())
            }
            Err(e) => {
                let msg = format!("store: {e}");
                store_error = Some(e.into());
                Err(msg)
            }
        }
    })
    .await;
    let result = match (store_error, fetched) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(())) => Ok(()),
    };
    (done, result)
}
