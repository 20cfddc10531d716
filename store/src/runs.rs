//! Run bookkeeping written once for both backends over the dialect seam: a run opened
//! (closing as `interrupted` any run of the job a killed process left `running`), closed
//! with its outcome, and a series' failure noted in its freshness row.

use sqlx::{Pool, QueryBuilder};

use super::convert::{db_count, errors_json, uncovered_json};
use super::dialect::Dialect;
use super::{Failure, RunOutcome, RunStart, StoreError};

/// Opens a run; its id.
pub(super) async fn begin<DB: Dialect>(pool: &Pool<DB>, run: &RunStart) -> Result<i64, StoreError> {
    let mut interrupt =
        QueryBuilder::<DB>::new("UPDATE runs SET status = 'interrupted', finished_at = ");
    interrupt
        .push_bind(DB::at(run.started_at))
        .push(" WHERE status = 'running' AND job = ")
        .push_bind(DB::text(&run.job));
    let mut insert = QueryBuilder::<DB>::new(
        "INSERT INTO runs (job, provider, plugin_version, started_at, status) VALUES (",
    );
    insert
        .push_bind(DB::text(&run.job))
        .push(", ")
        .push_bind(DB::text(&run.provider))
        .push(", ")
        .push_bind(DB::text(&run.plugin_version))
        .push(", ")
        .push_bind(DB::at(run.started_at))
        .push(", 'running') RETURNING id");
    DB::insert_after(pool, interrupt, insert).await
}

/// Closes run `id` with its outcome.
pub(super) async fn finish<DB: Dialect>(
    pool: &Pool<DB>,
    id: i64,
    o: &RunOutcome,
) -> Result<(), StoreError> {
    let count = |n: u64| DB::int(db_count(n));
    let mut q = QueryBuilder::<DB>::new("UPDATE runs SET finished_at = ");
    q.push_bind(DB::at(o.finished_at))
        .push(", status = ")
        .push_bind(DB::text(o.status.as_str()))
        .push(", symbols_ok = ")
        .push_bind(count(o.symbols_ok))
        .push(", symbols_failed = ")
        .push_bind(count(o.symbols_failed))
        .push(", bars_written = ")
        .push_bind(count(o.bars_written))
        .push(", bars_rejected = ")
        .push_bind(count(o.bars_rejected))
        .push(", bars_fetched = ")
        .push_bind(count(o.bars_fetched))
        .push(", bars_skipped = ")
        .push_bind(count(o.bars_skipped))
        .push(", errors = ")
        .push_bind(DB::text(&errors_json(&o.errors)))
        .push(", uncovered = ")
        .push_bind(DB::text(&uncovered_json(&o.uncovered)))
        .push(", reason = ")
        .push_bind(DB::opt_text(o.reason.as_deref()))
        .push(" WHERE id = ")
        .push_bind(DB::int(id));
    DB::all_or_none(pool, vec![q]).await
}

/// The statement that notes `f` in its series' freshness row (the error and when), run by
/// each backend on its own connection: alone, or inside a write's transaction.
pub(super) fn failure<DB: Dialect>(f: &Failure) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::<DB>::new(
        "INSERT INTO freshness (symbol, timeframe, source, asset_class, last_error_at, last_error) VALUES (",
    );
    q.push_bind(DB::text(&f.symbol))
        .push(", ")
        .push_bind(DB::text(&f.timeframe.to_string()))
        .push(", ")
        .push_bind(DB::text(&f.source))
        .push(", ")
        .push_bind(DB::text(f.asset_class.as_str()))
        .push(", ")
        .push_bind(DB::at(f.at))
        .push(", ")
        .push_bind(DB::text(&f.error))
        .push(
            ") ON CONFLICT (symbol, timeframe, source) DO UPDATE SET
                 asset_class = excluded.asset_class,
                 last_error_at = excluded.last_error_at, last_error = excluded.last_error",
        );
    q
}
