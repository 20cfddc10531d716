//! Instrument reference data: the instruments each provider lists, kept per source and
//! provider symbol, written and read once for both backends over the dialect seam.
//!
//! A write is an upsert of a provider's whole listing: a new listing is inserted, a
//! source's change to its own listing (its canonical symbol, name, venue, status, dates)
//! is written in place and logged as `instrument.revised`. Nothing is deleted: an
//! instrument the provider no longer lists is kept as it was last listed, so that what the
//! store holds about it (its bars, its actions) still has its reference data, but marked
//! inactive (a revision like any other), so that no job selects it any more.

use chrono::{DateTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::{Pool, QueryBuilder};

use super::convert;
use super::dialect::Dialect;
use super::keyed::{self, Keyed};
use super::rows::Columns;
use super::{InstrumentsBatch, InstrumentsSummary, StoreError, StoredInstrument};
use mdhost_core::domain::Instrument;

/// The kind of the quality event that logs a change an instrument's own source made to it.
pub const REVISED: &str = "instrument.revised";

impl Keyed for Instrument {
    const TABLE: &'static str = "instruments";
    const KEY: &'static str = "provider_symbol";
    const COLUMNS: &'static str = "provider_symbol, symbol, name, asset_class, exchange, \
                                   currency, active, listed, delisted";
    const REVISED: &'static str = REVISED;
    type Key = String;

    fn key(&self) -> Self::Key {
        self.provider_symbol.clone()
    }
    fn bind_key<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::text(&self.provider_symbol));
    }
    fn bind_values<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::text(&self.symbol))
            .push_bind(DB::opt_text(self.name.as_deref()))
            .push_bind(DB::text(self.asset_class.as_str()))
            .push_bind(DB::opt_text(self.exchange.as_deref()))
            .push_bind(DB::opt_text(self.currency.as_deref()))
            .push_bind(DB::flag(self.active))
            .push_bind(DB::day(self.listed))
            .push_bind(DB::day(self.delisted));
    }
    fn read(r: &impl Columns) -> Result<Self, StoreError> {
        Ok(Instrument {
            symbol: r.text("symbol")?,
            provider_symbol: r.text("provider_symbol")?,
            name: r.opt_text("name")?,
            asset_class: convert::asset_class(&r.text("asset_class")?)?,
            exchange: r.opt_text("exchange")?,
            currency: r.opt_text("currency")?,
            active: r.flag("active")?,
            listed: r.opt_day("listed")?,
            delisted: r.opt_day("delisted")?,
        })
    }
    /// The canonical symbol (the new one, when that is what changed).
    fn event_symbol(&self) -> &str {
        &self.symbol
    }
    fn event_start(&self) -> Option<DateTime<Utc>> {
        None
    }
}

/// Upserts `batch`, the source's whole listing, in one transaction; what the source listed
/// before and no longer does is marked inactive.
pub(super) async fn write<DB: Dialect>(
    pool: &Pool<DB>,
    batch: &InstrumentsBatch,
    fence: Option<&super::Fence>,
) -> Result<InstrumentsSummary, StoreError> {
    let listed: std::collections::HashSet<&str> = batch
        .instruments
        .iter()
        .map(|i| i.provider_symbol.as_str())
        .collect();
    let gone = read(pool, Some(&batch.source.provider))
        .await?
        .into_iter()
        .map(|s| s.item)
        .filter(|i| i.active && !listed.contains(i.provider_symbol.as_str()))
        .map(|i| Instrument { active: false, ..i });
    let rows: Vec<Instrument> = batch.instruments.iter().cloned().chain(gone).collect();
    let mut tx = DB::begin_write(pool, None, fence).await?;
    let counts = keyed::write(&mut tx, &rows, &batch.source, batch.received_at).await?;
    tx.commit().await?;
    Ok(InstrumentsSummary {
        inserted: counts.inserted,
        revised: counts.revised,
        unchanged: counts.unchanged,
        spooled: false,
    })
}

/// The stored instruments of `source`, or of every source, by canonical symbol, then
/// source and provider symbol.
pub(super) async fn read<DB: Dialect>(
    pool: &Pool<DB>,
    source: Option<&str>,
) -> Result<Vec<StoredInstrument>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT {}, source, plugin_version, ingested_at FROM instruments",
        Instrument::COLUMNS
    ));
    if let Some(source) = source {
        q.push(" WHERE source = ").push_bind(DB::text(source));
    }
    q.push(" ORDER BY symbol, source, provider_symbol");
    DB::all(pool, q)
        .await?
        .iter()
        .map(|r| {
            Ok(StoredInstrument {
                item: Instrument::read(r)?,
                source: r.text("source")?,
                plugin_version: r.text("plugin_version")?,
                ingested_at: r.time("ingested_at")?,
            })
        })
        .collect()
}
