//! Rows that each source owns by key (observations, instruments), written once for both
//! backends over the dialect seam: the source's stored rows for a batch's keys are read in
//! the batch's transaction and compared in Rust, as corporate actions are (`actions.rs`),
//! so that a replay changes nothing, a change is written in place, and a change of a value
//! is logged as a revision quality event with the old and the new row.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::query_builder::Separated;
use sqlx::{QueryBuilder, Transaction};

use super::dialect::Dialect;
use super::rows::Columns;
use super::{Source, StoreError};

/// Rows per statement: an observation binds 9 values and an instrument 12, so a statement
/// stays far below SQLite's 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 1_000;

/// How an incoming row differs from the one its source stored under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    Same,
    /// Rewritten in place, without an event: nothing a reader would call a value changed.
    Updated,
    /// Rewritten in place and logged.
    Revised,
}

/// One table of rows keyed per source: how its rows are keyed, bound, compared and read.
pub(super) trait Keyed: Serialize + PartialEq + Sized + Send + Sync {
    const TABLE: &'static str;
    /// The key columns but `source`.
    const KEY: &'static str;
    /// `KEY`'s columns, then the values.
    const COLUMNS: &'static str;
    /// The kind of the quality event that logs a revision.
    const REVISED: &'static str;
    type Key: Hash + Eq + Send;

    fn key(&self) -> Self::Key;
    /// Binds `KEY`'s columns, in order.
    fn bind_key<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>);
    /// Binds the columns of `COLUMNS` after the key, in order.
    fn bind_values<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>);
    fn read(r: &impl Columns) -> Result<Self, StoreError>;
    /// What `new` changes of `self`, the stored row of its key: by default any difference
    /// is a revision (every field is what the provider published).
    fn change(&self, new: &Self) -> Change {
        if self == new {
            Change::Same
        } else {
            Change::Revised
        }
    }
    /// The revision event's `symbol` and `start`.
    fn event_symbol(&self) -> &str;
    fn event_start(&self) -> Option<DateTime<Utc>>;
}

/// What a write did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Counts {
    pub inserted: u64,
    pub revised: u64,
    pub updated: u64,
    pub unchanged: u64,
}

/// What a batch does to one table's rows of its source.
struct Plan<'a, T> {
    new: Vec<&'a T>,
    /// Rows to rewrite in place, with the change and the row stored before.
    changed: Vec<(Change, T, &'a T)>,
    unchanged: u64,
}

/// The last copy of each key of `rows`, in the order the keys first appear: a hand-made
/// batch may hold a key twice, and Postgres refuses to write one key twice in a statement.
fn last_of_each_key<T: Keyed>(rows: &[T]) -> Vec<&T> {
    let mut at: HashMap<T::Key, usize> = HashMap::new();
    let mut out: Vec<&T> = Vec::with_capacity(rows.len());
    for r in rows {
        match at.get(&r.key()) {
            Some(&i) => out[i] = r,
            None => {
                at.insert(r.key(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// Compares `rows` (one copy of each key) with what the source has stored of their keys.
fn plan<'a, T: Keyed>(rows: &[&'a T], mut stored: HashMap<T::Key, T>) -> Plan<'a, T> {
    let mut plan = Plan {
        new: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
    };
    for &r in rows {
        match stored.remove(&r.key()) {
            None => plan.new.push(r),
            Some(old) => match old.change(r) {
                Change::Same => plan.unchanged += 1,
                change => plan.changed.push((change, old, r)),
            },
        }
    }
    plan
}

/// Writes `rows` of `source` in `tx`: new keys inserted, changed rows rewritten in place
/// (stamped with this batch's version and `at`), revisions logged. Copies of a key beyond
/// the last count as unchanged.
pub(super) async fn write<DB: Dialect, T: Keyed>(
    tx: &mut Transaction<'static, DB>,
    rows: &[T],
    source: &Source,
    at: DateTime<Utc>,
) -> Result<Counts, StoreError> {
    if rows.is_empty() {
        return Ok(Counts::default());
    }
    let distinct = last_of_each_key(rows);
    let stored = stored_of::<DB, T>(tx, &distinct, &source.provider).await?;
    let plan = plan(&distinct, stored);
    // A changed row is replaced: the old one goes here, the new one in with the new rows.
    for chunk in plan.changed.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<DB>::new(format!("DELETE FROM {} WHERE source = ", T::TABLE));
        q.push_bind(DB::text(&source.provider))
            .push(format!(" AND ({}) IN (", T::KEY));
        q.push_values(chunk, |mut row, (_, _, r)| r.bind_key(&mut row));
        q.push(")");
        DB::tx_execute(tx, q).await?;
    }
    let written: Vec<&T> = plan
        .new
        .iter()
        .copied()
        .chain(plan.changed.iter().map(|(_, _, r)| *r))
        .collect();
    let mut affected = 0;
    for chunk in written.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "INSERT INTO {} ({}, source, plugin_version, ingested_at) ",
            T::TABLE,
            T::COLUMNS
        ));
        q.push_values(chunk, |mut row, r| {
            r.bind_key(&mut row);
            r.bind_values(&mut row);
            row.push_bind(DB::text(&source.provider))
                .push_bind(DB::text(&source.version))
                .push_bind(DB::at(at));
        });
        // A row that another writer of this source committed since the read above (only
        // Postgres lets one in) is left as that writer stored it; the next replay compares.
        q.push(format!(" ON CONFLICT ({}, source) DO NOTHING", T::KEY));
        affected += DB::tx_execute(tx, q).await?;
    }
    let revised: Vec<(&T, &T)> = plan
        .changed
        .iter()
        .filter(|(change, _, _)| *change == Change::Revised)
        .map(|(_, old, new)| (old, *new))
        .collect();
    log_revisions::<DB, T>(tx, &revised, source, at).await?;
    let lost = written.len() as u64 - affected;
    let revised = revised.len() as u64;
    let inserted = plan.new.len() as u64;
    Ok(Counts {
        inserted: inserted.saturating_sub(lost),
        revised,
        updated: plan.changed.len() as u64 - revised,
        unchanged: plan.unchanged + lost.min(inserted) + (rows.len() - distinct.len()) as u64,
    })
}

/// The rows `source` has stored of the keys of `rows`.
async fn stored_of<DB: Dialect, T: Keyed>(
    tx: &mut Transaction<'static, DB>,
    rows: &[&T],
    source: &str,
) -> Result<HashMap<T::Key, T>, StoreError> {
    let mut out = HashMap::new();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<DB>::new(format!(
            "SELECT {} FROM {} WHERE source = ",
            T::COLUMNS,
            T::TABLE
        ));
        q.push_bind(DB::text(source))
            .push(format!(" AND ({}) IN (", T::KEY));
        q.push_values(chunk, |mut row, r| r.bind_key(&mut row));
        q.push(")");
        for found in DB::tx_all(tx, q).await? {
            let r = T::read(&found)?;
            out.insert(r.key(), r);
        }
    }
    Ok(out)
}

/// One `T::REVISED` quality event per revision, the way a revised closed bar or action is
/// logged: `detail` holds the old and the new row (decimals as text) with the source, and
/// the event's `timeframe` names the table.
async fn log_revisions<DB: Dialect, T: Keyed>(
    tx: &mut Transaction<'static, DB>,
    revised: &[(&T, &T)],
    source: &Source,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let with_source = |r: &T| {
        let mut v = serde_json::to_value(r).expect("stored rows serialize");
        v["source"] = serde_json::Value::String(source.provider.clone());
        v
    };
    for chunk in revised.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO quality_events (kind, symbol, timeframe, start, source, detail, created_at) ",
        );
        q.push_values(chunk, |mut row, (old, new)| {
            let detail = serde_json::json!({"old": with_source(old), "new": with_source(new)});
            row.push_bind(DB::text(T::REVISED))
                .push_bind(DB::text(new.event_symbol()))
                .push_bind(DB::text(T::TABLE))
                .push_bind(DB::opt_at(new.event_start()))
                .push_bind(DB::text(&source.provider))
                .push_bind(DB::text(&detail.to_string()))
                .push_bind(DB::at(at));
        });
        DB::tx_execute(tx, q).await?;
    }
    Ok(())
}
