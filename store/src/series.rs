//! Economic series: observations kept per source and vintage, and each source's description
//! of a series, written and read once for both backends over the dialect seam.
//!
//! An observation's key is its series, date, vintage start and source. A value a source
//! changes under the same key (a number to another, or to or from missing) is a revision,
//! logged as `observation.revised`; a new vintage is a new row, since vintages are history
//! that an as-of read needs.

use std::collections::HashMap;

use chrono::{NaiveDate, NaiveTime, SubsecRound};
use sqlx::query_builder::Separated;
use sqlx::{Pool, QueryBuilder, Transaction};

use super::actions::bound;
use super::dialect::Dialect;
use super::keyed::{self, Change, Keyed};
use super::observation::{NO_VINTAGE, Observation};
use super::rows::Columns;
use super::{SeriesBatch, SeriesSummary, StoreError, StoredObservation, StoredSeriesMeta};
use mdhost_core::domain::SeriesMeta;

/// The kind of the quality event that logs a change an observation's own source made to it.
pub const REVISED: &str = "observation.revised";

impl Keyed for Observation {
    const TABLE: &'static str = "observations";
    const KEY: &'static str = "series_id, date, realtime_start";
    const COLUMNS: &'static str = "series_id, date, realtime_start, value, realtime_end";
    const REVISED: &'static str = REVISED;
    type Key = (String, NaiveDate, NaiveDate);

    fn key(&self) -> Self::Key {
        (self.series_id.clone(), self.date, vintage_start(self))
    }
    fn bind_key<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::text(&self.series_id))
            .push_bind(DB::day(Some(self.date)))
            .push_bind(DB::day(Some(vintage_start(self))));
    }
    fn bind_values<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::opt_dec(self.value))
            .push_bind(DB::day(self.realtime_end));
    }
    fn read(r: &impl Columns) -> Result<Self, StoreError> {
        Ok(Observation {
            series_id: r.text("series_id")?,
            date: r.day("date")?,
            value: r.opt_decimal("value")?,
            realtime_start: Some(r.day("realtime_start")?).filter(|d| *d != NO_VINTAGE),
            realtime_end: r.opt_day("realtime_end")?,
        })
    }
    /// Decimals compare by value, so `4.5` and `4.50` are one value on both backends.
    fn change(&self, new: &Self) -> Change {
        if self.value != new.value {
            Change::Revised
        } else if self.realtime_end != new.realtime_end {
            Change::Updated
        } else {
            Change::Same
        }
    }
    fn event_symbol(&self) -> &str {
        &self.series_id
    }
    /// The observation's date at midnight UTC.
    fn event_start(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(self.date.and_time(NaiveTime::MIN).and_utc())
    }
}

/// The `realtime_start` key column: the vintage's start, or the day for "no vintage".
fn vintage_start(o: &Observation) -> NaiveDate {
    o.realtime_start.unwrap_or(NO_VINTAGE)
}

/// Writes `batch` in one transaction: its observations, and its description of the series
/// if it has one and it changed.
pub(super) async fn write<DB: Dialect>(
    pool: &Pool<DB>,
    batch: &SeriesBatch,
    fence: Option<&super::Fence>,
) -> Result<SeriesSummary, StoreError> {
    if let Some(o) = batch
        .observations
        .iter()
        .find(|o| o.series_id != batch.series_id)
    {
        return Err(StoreError::MixedBatch {
            expected: batch.series_id.clone(),
            found: o.series_id.clone(),
        });
    }
    let mut tx = DB::begin_write(pool, batch.run, fence).await?;
    let counts = keyed::write(
        &mut tx,
        &batch.observations,
        &batch.source,
        batch.received_at,
    )
    .await?;
    let meta_written = match &batch.meta {
        Some(meta) => write_meta(&mut tx, batch, meta).await?,
        None => false,
    };
    tx.commit().await?;
    Ok(SeriesSummary {
        inserted: counts.inserted,
        revised: counts.revised,
        updated: counts.updated,
        unchanged: counts.unchanged,
        meta_written,
        spooled: false,
    })
}

const META_COLUMNS: &str = "series_id, title, units, frequency, seasonal_adjustment, last_updated, source, \
     plugin_version, ingested_at";

/// Stores `meta` as the source's description of the series unless it already is; whether
/// it wrote. A changed description replaces the old one without an event: it describes
/// the values, it is not one.
async fn write_meta<DB: Dialect>(
    tx: &mut Transaction<'static, DB>,
    batch: &SeriesBatch,
    meta: &SeriesMeta,
) -> Result<bool, StoreError> {
    // Postgres keeps microseconds; compared at that resolution, a replay is equal on both.
    let meta = SeriesMeta {
        last_updated: meta.last_updated.map(|t| t.trunc_subsecs(6)),
        ..meta.clone()
    };
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {META_COLUMNS} FROM series_meta WHERE "));
    q.push("series_id = ")
        .push_bind(DB::text(&batch.series_id))
        .push(" AND source = ")
        .push_bind(DB::text(&batch.source.provider));
    if let Some(found) = DB::tx_all(tx, q).await?.first()
        && stored_meta(found)?.meta == meta
    {
        return Ok(false);
    }
    let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO series_meta ({META_COLUMNS}) "));
    q.push_values([&meta], |mut row, m| {
        row.push_bind(DB::text(&batch.series_id))
            .push_bind(DB::text(&m.title))
            .push_bind(DB::text(&m.units))
            .push_bind(DB::text(&m.frequency))
            .push_bind(DB::opt_text(m.seasonal_adjustment.as_deref()))
            .push_bind(DB::opt_at(m.last_updated))
            .push_bind(DB::text(&batch.source.provider))
            .push_bind(DB::text(&batch.source.version))
            .push_bind(DB::at(batch.received_at));
    });
    q.push(
        " ON CONFLICT (series_id, source) DO UPDATE SET
             title = excluded.title, units = excluded.units, frequency = excluded.frequency,
             seasonal_adjustment = excluded.seasonal_adjustment,
             last_updated = excluded.last_updated, plugin_version = excluded.plugin_version,
             ingested_at = excluded.ingested_at",
    );
    DB::tx_execute(tx, q).await?;
    Ok(true)
}

fn stored_meta(r: &impl Columns) -> Result<StoredSeriesMeta, StoreError> {
    Ok(StoredSeriesMeta {
        series_id: r.text("series_id")?,
        meta: SeriesMeta {
            title: r.text("title")?,
            units: r.text("units")?,
            frequency: r.text("frequency")?,
            seasonal_adjustment: r.opt_text("seasonal_adjustment")?,
            last_updated: r.opt_time("last_updated")?,
        },
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        ingested_at: r.time("ingested_at")?,
    })
}

/// Every source's description of `series_id`, by source.
pub(super) async fn meta<DB: Dialect>(
    pool: &Pool<DB>,
    series_id: &str,
) -> Result<Vec<StoredSeriesMeta>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(format!("SELECT {META_COLUMNS} FROM series_meta WHERE "));
    q.push("series_id = ")
        .push_bind(DB::text(series_id))
        .push(" ORDER BY source");
    DB::all(pool, q).await?.iter().map(stored_meta).collect()
}

/// The observations of `series_id` with `from ≤ date < to`, oldest first, every source's
/// (by source within a date). Of each date and source one vintage: the one valid on
/// `as_of` (`realtime_start ≤ as_of ≤ realtime_end`, an open end valid on every later
/// day), or without `as_of` the latest. A value without vintages is valid on every day.
pub(super) async fn read<DB: Dialect>(
    pool: &Pool<DB>,
    series_id: &str,
    from: NaiveDate,
    to: NaiveDate,
    as_of: Option<NaiveDate>,
) -> Result<Vec<StoredObservation>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT {}, source, plugin_version, ingested_at FROM observations WHERE series_id = ",
        Observation::COLUMNS
    ));
    q.push_bind(DB::text(series_id))
        .push(" AND date >= ")
        .push_bind(DB::day(Some(bound(from))))
        .push(" AND date < ")
        .push_bind(DB::day(Some(bound(to))));
    if let Some(day) = as_of.map(bound) {
        q.push(" AND realtime_start <= ")
            .push_bind(DB::day(Some(day)))
            .push(" AND (realtime_end IS NULL OR realtime_end >= ")
            .push_bind(DB::day(Some(day)))
            .push(")");
    }
    q.push(" ORDER BY date, source, realtime_start");
    let mut out: Vec<StoredObservation> = Vec::new();
    // Rows come by date and source, vintages oldest first: the last of each pair wins. A
    // value without vintages sorts first (its start is 0001-01-01), so a source that
    // later adds vintages is read through them.
    let mut at: HashMap<(NaiveDate, String), usize> = HashMap::new();
    for r in DB::all(pool, q).await? {
        let row = StoredObservation {
            item: Observation::read(&r)?,
            source: r.text("source")?,
            plugin_version: r.text("plugin_version")?,
            ingested_at: r.time("ingested_at")?,
        };
        match at.get(&(row.item.date, row.source.clone())) {
            Some(&i) => out[i] = row,
            None => {
                at.insert((row.item.date, row.source.clone()), out.len());
                out.push(row);
            }
        }
    }
    Ok(out)
}
