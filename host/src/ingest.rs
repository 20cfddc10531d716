//! From a plugin's answer to the store: look up each series' recent history, validate,
//! and write bars, quarantine and events in one batch. The CLI's `plugin call --store` uses
//! it now; the scheduler will too.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use crate::domain::RawBar;
use crate::store::{Checkpoint, Source, Store, StoreError, WriteBatch, WriteSummary};
use crate::validate::{History, Request, Validator};

/// How many earlier closes the spike rule sees per series (its window plus one).
fn history_len(validator: &Validator, req: &Request, symbol: &str) -> u32 {
    let p = validator.policy(symbol, req.default_class);
    u32::try_from(p.spike_window + 1).unwrap_or(u32::MAX)
}

/// What one ingest did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ingested {
    pub received: u64,
    pub accepted: u64,
    pub rejected: u64,
    pub write: WriteSummary,
}

/// Validates `raw` (the whole answer to `req`) and writes it, with `checkpoint` if given,
/// in one transaction.
pub async fn ingest(
    store: &dyn Store,
    validator: &Validator,
    req: &Request,
    source: &Source,
    raw: Vec<RawBar>,
    checkpoint: Option<Checkpoint>,
    now: DateTime<Utc>,
) -> Result<Ingested, StoreError> {
    let mut history = History::new();
    for symbol in &req.symbols {
        let n = history_len(validator, req, symbol);
        let closes = store
            .recent_closes(symbol, req.timeframe, req.start, n)
            .await?;
        history.insert(symbol.clone(), closes);
    }
    let received = raw.len() as u64;
    let outcome = validator.validate(req, raw, &history, now, true);
    let asset_classes: BTreeMap<String, _> = req
        .symbols
        .iter()
        .map(|s| {
            (
                s.clone(),
                validator.policy(s, req.default_class).asset_class,
            )
        })
        .collect();
    let batch = WriteBatch {
        source: source.clone(),
        asset_classes,
        bars: outcome.accepted,
        rejected: outcome.rejected,
        events: outcome.events,
        checkpoint,
        received_at: now,
    };
    let write = store.write(&batch).await?;
    Ok(Ingested {
        received,
        accepted: batch.bars.len() as u64,
        rejected: batch.rejected.len() as u64,
        write,
    })
}
