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

/// Validates `raw` against `req` and `history` and assembles the batch that writes the
/// result (bars, quarantine, events, asset classes, `checkpoint`) in one transaction.
/// `gaps`: whether `raw` is a whole answer to `req`, so that gaps inside it are reported.
#[allow(clippy::too_many_arguments)]
pub fn validated_batch(
    validator: &Validator,
    req: &Request,
    source: &Source,
    raw: Vec<RawBar>,
    history: &History,
    checkpoint: Option<Checkpoint>,
    now: DateTime<Utc>,
    gaps: bool,
) -> WriteBatch {
    let outcome = validator.validate(req, raw, history, now, gaps);
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
    WriteBatch {
        source: source.clone(),
        asset_classes,
        bars: outcome.accepted,
        rejected: outcome.rejected,
        events: outcome.events,
        checkpoint,
        received_at: now,
    }
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
    let batch = validated_batch(validator, req, source, raw, &history, checkpoint, now, true);
    let write = store.write(&batch).await?;
    Ok(Ingested {
        received,
        accepted: batch.bars.len() as u64,
        rejected: batch.rejected.len() as u64,
        write,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AssetClass;
    use crate::store::SqliteStore;

    fn raw(start: &str, close: &str) -> RawBar {
        RawBar {
            symbol: "BTC/USD".into(),
            timeframe: "1m".parse().unwrap(),
            start: start.parse().unwrap(),
            open: close.into(),
            high: close.into(),
            low: close.into(),
            close: close.into(),
            volume: Some("1".into()),
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    /// A plugin answer lands as stored bars, quarantined bars and events, in one write,
    /// and replaying it changes nothing.
    #[tokio::test]
    async fn an_answer_is_validated_and_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::connect(&url).await.unwrap();
        let req = Request {
            symbols: vec!["BTC/USD".into()],
            timeframe: "1m".parse().unwrap(),
            start: "2025-07-12T00:00:00Z".parse().unwrap(),
            end: "2025-07-12T00:04:00Z".parse().unwrap(),
            default_class: AssetClass::Crypto,
        };
        let answer = vec![
            raw("2025-07-12T00:00:00Z", "60000"),
            raw("2025-07-12T00:01:00Z", "-1"),
            raw("2025-07-12T00:03:00Z", "60010.5"),
        ];
        let source = Source {
            provider: "binance".into(),
            version: "0.1.0".into(),
        };
        let now = "2025-07-13T00:00:00Z".parse().unwrap();
        let v = Validator::default();
        let got = ingest(&store, &v, &req, &source, answer.clone(), None, now)
            .await
            .unwrap();
        assert_eq!((got.received, got.accepted, got.rejected), (3, 2, 1));
        assert_eq!((got.write.inserted, got.write.quarantined), (2, 1));
        // The quarantined minute leaves a gap in a market that never closes.
        let events = store.events(None, 10).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["gap.session"]);
        assert_eq!(
            store.freshness().await.unwrap()[0].asset_class,
            AssetClass::Crypto
        );
        let again = ingest(&store, &v, &req, &source, answer, None, now)
            .await
            .unwrap();
        assert_eq!((again.write.inserted, again.write.unchanged), (0, 2));
    }
}
