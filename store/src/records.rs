//! The quarantine of rejected economic observations and instrument listings
//! (`quarantined_records`), written and read once for both backends: one row per source,
//! kind, key and reason codes, the last copy kept and repeats counted, as bars' and
//! actions' quarantines do.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder};

use super::convert;
use super::dialect::Dialect;
use super::rows::{self, Columns};
use super::{QuarantinedRecord, RejectedRecord, Source, StoreError};

/// Rows per statement: 10 parameters each stays far below SQLite's 32,766.
const ROWS_PER_STATEMENT: usize = 1_000;

/// One row: the last copy of a rejected record per key and codes, and how many came.
struct Row<'a> {
    record: &'a RejectedRecord,
    codes: String,
    seen: i64,
}

/// Quarantines `rejected` as `source`'s, received at `at`, in one transaction.
pub(super) async fn write<DB: Dialect>(
    pool: &Pool<DB>,
    source: &Source,
    at: DateTime<Utc>,
    rejected: &[RejectedRecord],
) -> Result<(), StoreError> {
    // Postgres refuses to upsert one key twice in a statement: copies become one row.
    let mut rows: Vec<Row<'_>> = Vec::with_capacity(rejected.len());
    let mut index: HashMap<(&str, &str, String), usize> = HashMap::new();
    for r in rejected {
        let codes: Vec<&str> = r.reasons.iter().map(|x| x.code.as_str()).collect();
        let codes = codes.join(",");
        match index.get(&(r.kind.as_str(), r.key.as_str(), codes.clone())) {
            Some(&i) => {
                rows[i].seen += 1;
                rows[i].record = r;
            }
            None => {
                index.insert((r.kind.as_str(), r.key.as_str(), codes.clone()), rows.len());
                rows.push(Row {
                    record: r,
                    codes,
                    seen: 1,
                });
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let statements = rows
        .chunks(ROWS_PER_STATEMENT)
        .map(|chunk| {
            let mut q = QueryBuilder::<DB>::new(
                "INSERT INTO quarantined_records (kind, key, raw, reasons, reason_codes, seen,
                     source, plugin_version, received_at) ",
            );
            q.push_values(chunk, |mut row, r| {
                row.push_bind(DB::text(&r.record.kind))
                    .push_bind(DB::text(&r.record.key))
                    .push_bind(DB::text(&r.record.raw.to_string()))
                    .push_bind(DB::text(&convert::reasons_json(&r.record.reasons)))
                    .push_bind(DB::text(&r.codes))
                    .push_bind(DB::int(r.seen))
                    .push_bind(DB::text(&source.provider))
                    .push_bind(DB::text(&source.version))
                    .push_bind(DB::at(at));
            });
            q.push(
                " ON CONFLICT (source, kind, key, reason_codes) DO UPDATE SET
                     raw = excluded.raw, reasons = excluded.reasons,
                     plugin_version = excluded.plugin_version, received_at = excluded.received_at,
                     seen = quarantined_records.seen + excluded.seen",
            );
            q
        })
        .collect();
    DB::all_or_none(pool, statements).await
}

/// The newest quarantined records first.
pub(super) async fn read<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u32,
) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT id, kind, key, raw, reasons, seen, source, plugin_version, received_at
         FROM quarantined_records ORDER BY received_at DESC, id DESC LIMIT ",
    );
    q.push_bind(DB::int(i64::from(limit)));
    rows::all(DB::all(pool, q).await?, row)
}

fn row(r: &impl Columns) -> Result<QuarantinedRecord, StoreError> {
    let raw = r.text("raw")?;
    Ok(QuarantinedRecord {
        id: r.int("id")?,
        kind: r.text("kind")?,
        key: r.text("key")?,
        raw: serde_json::from_str(&raw).map_err(|e| StoreError::corrupt("raw", raw, e))?,
        reasons: convert::reasons(&r.text("reasons")?)?,
        seen: r.int("seen")?,
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        received_at: r.time("received_at")?,
    })
}
