//! The seam between the store's two SQL dialects. Statements both backends share are built
//! once with sqlx's `QueryBuilder`, which writes each backend's placeholders (`$1`, `?`);
//! what else differs between them — how a value binds, how a statement runs — is one
//! item of [`Dialect`] each, so that shared code names no bound but `DB: Dialect`.

use std::future::Future;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, Pool, Postgres, QueryBuilder, Sqlite, Transaction, Type};

use super::rows::Columns;
use super::{Fence, StoreError};

/// `sql` followed by `k1 = v1 AND k2 = v2 …`, each value bound as text: the key of a row
/// (a series, a stream) as every shared statement names it.
pub(super) fn matching<DB: Dialect>(sql: &str, keys: &[(&str, &str)]) -> QueryBuilder<DB> {
    let mut q = QueryBuilder::new(sql);
    for (i, (column, value)) in keys.iter().enumerate() {
        if i > 0 {
            q.push(" AND ");
        }
        q.push(*column).push(" = ").push_bind(DB::text(value));
    }
    q
}

/// One SQL backend, as the shared statements see it.
pub(super) trait Dialect: Database {
    /// An instant (Postgres: TIMESTAMPTZ; SQLite: INTEGER nanoseconds).
    type At: for<'t> Encode<'t, Self> + Type<Self> + Send;
    type Text: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// Text that may be NULL.
    type OptText: for<'t> Encode<'t, Self> + Type<Self> + Send;
    type Int: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// A calendar day that may be NULL (Postgres: DATE; SQLite: TEXT `YYYY-MM-DD`).
    type Day: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// An exact decimal (Postgres: NUMERIC; SQLite: canonical TEXT).
    type Dec: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// An exact decimal that may be NULL (a missing observation).
    type OptDec: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// An instant that may be NULL.
    type OptAt: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// A boolean (Postgres: BOOLEAN; SQLite: INTEGER 0 or 1).
    type Flag: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// A row as the shared decoders read it.
    type Found: Columns + Send;

    fn at(t: DateTime<Utc>) -> Self::At;
    /// An instant as a query bound, clamped into what the column can hold (an unbounded
    /// range reaches past both backends' limits, which they would refuse as an error).
    fn bound(t: DateTime<Utc>) -> Self::At;
    fn text(s: &str) -> Self::Text;
    fn opt_text(s: Option<&str>) -> Self::OptText;
    /// A select-list item reading `column` as text (Postgres keeps a raw value such as a
    /// quarantined bar's trade count as NUMERIC; SQLite as TEXT already).
    fn as_text(column: &str) -> String;
    fn int(n: i64) -> Self::Int;
    fn day(d: Option<NaiveDate>) -> Self::Day;
    fn dec(d: Decimal) -> Self::Dec;
    fn opt_dec(d: Option<Decimal>) -> Self::OptDec;
    fn opt_at(t: Option<DateTime<Utc>>) -> Self::OptAt;
    fn flag(b: bool) -> Self::Flag;

    /// Begins a transaction that will write (SQLite takes the write lock up front), for
    /// the job run `run` when one produced it: Postgres keeps the run in a setting local
    /// to the transaction, which the outbox triggers copy into each entry, and checks a
    /// cluster host's `fence` (`fence.rs`).
    fn begin_write(
        pool: &Pool<Self>,
        run: Option<i64>,
        fence: Option<&Fence>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, StoreError>> + Send;

    /// Runs `q` in `tx`; its rows.
    fn tx_all(
        tx: &mut Transaction<'static, Self>,
        q: QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Found>, StoreError>> + Send;

    /// Runs `q` in `tx`; how many rows it changed.
    fn tx_execute(
        tx: &mut Transaction<'static, Self>,
        q: QueryBuilder<Self>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    fn all(
        pool: &Pool<Self>,
        q: QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Vec<Self::Found>, StoreError>> + Send;

    fn optional(
        pool: &Pool<Self>,
        q: QueryBuilder<Self>,
    ) -> impl Future<Output = Result<Option<Self::Found>, StoreError>> + Send;

    /// Runs `statements` in one transaction: all of them or none.
    fn all_or_none(
        pool: &Pool<Self>,
        statements: Vec<QueryBuilder<Self>>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Runs `first`, each statement returning one integer; then the statements `then`
    /// makes of those integers, if it makes any, each returning one integer too: all in
    /// one transaction. The second step's integers, if it ran.
    fn scalars_then(
        pool: &Pool<Self>,
        first: Vec<QueryBuilder<Self>>,
        then: impl FnOnce(&[i64]) -> Option<Vec<QueryBuilder<Self>>> + Send,
    ) -> impl Future<Output = Result<Option<Vec<i64>>, StoreError>> + Send;

    /// Runs `before`, then `insert` (which ends `RETURNING id`), in one transaction; the id.
    fn insert_after(
        pool: &Pool<Self>,
        before: QueryBuilder<Self>,
        insert: QueryBuilder<Self>,
    ) -> impl Future<Output = Result<i64, StoreError>> + Send;
}

/// The statement-running items, the same text for both backends.
macro_rules! runs_statements {
    ($row:ty) => {
        type Found = $row;

        async fn all(
            pool: &Pool<Self>,
            mut q: QueryBuilder<Self>,
        ) -> Result<Vec<$row>, StoreError> {
            Ok(q.build().fetch_all(pool).await?)
        }

        async fn optional(
            pool: &Pool<Self>,
            mut q: QueryBuilder<Self>,
        ) -> Result<Option<$row>, StoreError> {
            Ok(q.build().fetch_optional(pool).await?)
        }

        async fn tx_all(
            tx: &mut Transaction<'static, Self>,
            mut q: QueryBuilder<Self>,
        ) -> Result<Vec<$row>, StoreError> {
            Ok(q.build().fetch_all(&mut **tx).await?)
        }

        async fn tx_execute(
            tx: &mut Transaction<'static, Self>,
            mut q: QueryBuilder<Self>,
        ) -> Result<u64, StoreError> {
            Ok(q.build().execute(&mut **tx).await?.rows_affected())
        }

        async fn all_or_none(
            pool: &Pool<Self>,
            statements: Vec<QueryBuilder<Self>>,
        ) -> Result<(), StoreError> {
            let mut tx = pool.begin().await?;
            for mut q in statements {
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn scalars_then(
            pool: &Pool<Self>,
            first: Vec<QueryBuilder<Self>>,
            then: impl FnOnce(&[i64]) -> Option<Vec<QueryBuilder<Self>>> + Send,
        ) -> Result<Option<Vec<i64>>, StoreError> {
            let mut tx = pool.begin().await?;
            let mut got = Vec::with_capacity(first.len());
            for mut q in first {
                got.push(q.build_query_scalar().fetch_one(&mut *tx).await?);
            }
            let mut out = None;
            if let Some(statements) = then(&got) {
                let mut more = Vec::with_capacity(statements.len());
                for mut q in statements {
                    more.push(q.build_query_scalar().fetch_one(&mut *tx).await?);
                }
                out = Some(more);
            }
            tx.commit().await?;
            Ok(out)
        }

        async fn insert_after(
            pool: &Pool<Self>,
            mut before: QueryBuilder<Self>,
            mut insert: QueryBuilder<Self>,
        ) -> Result<i64, StoreError> {
            let mut tx = pool.begin().await?;
            before.build().execute(&mut *tx).await?;
            let id = insert.build_query_scalar().fetch_one(&mut *tx).await?;
            tx.commit().await?;
            Ok(id)
        }
    };
}

impl Dialect for Postgres {
    type At = DateTime<Utc>;
    type Text = String;
    type OptText = Option<String>;
    type Int = i64;

    fn at(t: DateTime<Utc>) -> Self::At {
        t
    }
    /// An open-ended range comes as `DateTime::MIN_UTC`/`MAX_UTC` (`mdhost bars` and `/bars`
    /// without `from`/`to`), which TIMESTAMPTZ (4713 BC to 294276 AD) refuses as out of
    /// range; years 1 to 9999 hold every bar there is.
    fn bound(t: DateTime<Utc>) -> Self::At {
        // 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
        let first = DateTime::from_timestamp(-62_135_596_800, 0).expect("in range");
        let last = DateTime::from_timestamp(253_402_300_799, 0).expect("in range");
        t.clamp(first, last)
    }
    fn text(s: &str) -> Self::Text {
        s.to_owned()
    }
    fn opt_text(s: Option<&str>) -> Self::OptText {
        s.map(str::to_owned)
    }
    fn as_text(column: &str) -> String {
        format!("{column}::text AS {column}")
    }
    fn int(n: i64) -> Self::Int {
        n
    }
    type Day = Option<NaiveDate>;
    type Dec = Decimal;
    fn day(d: Option<NaiveDate>) -> Self::Day {
        d
    }
    fn dec(d: Decimal) -> Self::Dec {
        d
    }
    type OptDec = Option<Decimal>;
    type OptAt = Option<DateTime<Utc>>;
    type Flag = bool;
    fn opt_dec(d: Option<Decimal>) -> Self::OptDec {
        d
    }
    fn opt_at(t: Option<DateTime<Utc>>) -> Self::OptAt {
        t
    }
    fn flag(b: bool) -> Self::Flag {
        b
    }
    async fn begin_write(
        pool: &Pool<Self>,
        run: Option<i64>,
        fence: Option<&Fence>,
    ) -> Result<Transaction<'static, Self>, StoreError> {
        let mut tx = pool.begin().await?;
        if let Some(fence) = fence {
            super::fence::check(&mut tx, fence).await?;
        }
        if let Some(run) = run {
            sqlx::query("SELECT set_config('mdhost.run', $1, true)")
                .bind(run.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }

    runs_statements!(PgRow);
}

impl Dialect for Sqlite {
    type At = i64;
    type Text = String;
    type OptText = Option<String>;
    type Int = i64;

    fn at(t: DateTime<Utc>) -> Self::At {
        super::convert::to_nanos(t)
    }
    /// Nanoseconds since the epoch saturate at the ends of `i64` (1677 to 2262).
    fn bound(t: DateTime<Utc>) -> Self::At {
        super::convert::to_nanos(t)
    }
    fn text(s: &str) -> Self::Text {
        s.to_owned()
    }
    fn opt_text(s: Option<&str>) -> Self::OptText {
        s.map(str::to_owned)
    }
    fn as_text(column: &str) -> String {
        column.to_owned()
    }
    fn int(n: i64) -> Self::Int {
        n
    }
    type Day = Option<String>;
    type Dec = String;
    fn day(d: Option<NaiveDate>) -> Self::Day {
        d.map(super::convert::day_text)
    }
    fn dec(d: Decimal) -> Self::Dec {
        d.to_string()
    }
    type OptDec = Option<String>;
    type OptAt = Option<i64>;
    type Flag = bool;
    fn opt_dec(d: Option<Decimal>) -> Self::OptDec {
        d.map(|d| d.to_string())
    }
    fn opt_at(t: Option<DateTime<Utc>>) -> Self::OptAt {
        t.map(super::convert::to_nanos)
    }
    fn flag(b: bool) -> Self::Flag {
        b
    }
    /// IMMEDIATE takes the write lock up front: a deferred transaction that reads first
    /// could fail to upgrade when another connection writes meanwhile.
    async fn begin_write(
        pool: &Pool<Self>,
        _run: Option<i64>,
        _fence: Option<&Fence>,
    ) -> Result<Transaction<'static, Self>, StoreError> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    runs_statements!(SqliteRow);
}

/// `impl Store for $store`: the backend's own methods (migrations, the write path, the
/// latest-bar read) as given, and every method written once over the seam, each a call
/// with `&self.pool`. One list for both backends, so a shared read cannot be wired to one
/// and forgotten in the other.
macro_rules! impl_store {
    ($store:ty { $($own:tt)* }) => {
        #[async_trait::async_trait]
        impl $crate::Store for $store {
            $($own)*

            async fn begin_run(&self, run: &$crate::RunStart) -> Result<i64, $crate::StoreError> {
                $crate::runs::begin(&self.pool, run).await
            }

            async fn finish_run(
                &self,
                id: i64,
                o: &$crate::RunOutcome,
            ) -> Result<(), $crate::StoreError> {
                $crate::runs::finish(&self.pool, id, o).await
            }

            async fn bars(
                &self,
                symbol: &str,
                timeframe: mdhost_core::domain::Timeframe,
                from: chrono::DateTime<chrono::Utc>,
                to: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::StoredBar>, $crate::StoreError> {
                $crate::reads::bars(&self.pool, symbol, timeframe, from, to).await
            }

            async fn recent_bars(
                &self,
                symbol: &str,
                timeframe: mdhost_core::domain::Timeframe,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<(chrono::DateTime<chrono::Utc>, rust_decimal::Decimal)>, $crate::StoreError>
            {
                $crate::reads::recent_closes(&self.pool, symbol, timeframe, before, limit).await
            }

            async fn freshness(&self) -> Result<Vec<$crate::Freshness>, $crate::StoreError> {
                $crate::reads::freshness(&self.pool).await
            }

            async fn quarantine(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::Quarantined>, $crate::StoreError> {
                $crate::reads::quarantine(&self.pool, limit).await
            }

            async fn events(
                &self,
                kind: Option<&str>,
                limit: u32,
            ) -> Result<Vec<$crate::StoredEvent>, $crate::StoreError> {
                $crate::reads::events(&self.pool, kind, limit).await
            }

            async fn runs(&self, limit: u32) -> Result<Vec<$crate::RunRow>, $crate::StoreError> {
                $crate::reads::runs(&self.pool, limit).await
            }

            async fn runs_started(
                &self,
                jobs: &[String],
                started_at: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::RunRow>, $crate::StoreError> {
                $crate::reads::runs_started(&self.pool, jobs, started_at).await
            }

            async fn checkpoint(
                &self,
                job: &str,
                symbol: &str,
                timeframe: mdhost_core::domain::Timeframe,
                window_start: chrono::DateTime<chrono::Utc>,
            ) -> Result<Option<$crate::Checkpoint>, $crate::StoreError> {
                $crate::reads::checkpoint(&self.pool, job, symbol, timeframe, window_start).await
            }

            async fn coverage(
                &self,
                job: &str,
                symbol: &str,
                timeframe: mdhost_core::domain::Timeframe,
            ) -> Result<Vec<$crate::Span>, $crate::StoreError> {
                $crate::reads::coverage(&self.pool, job, symbol, timeframe).await
            }

            async fn queue_gaps(
                &self,
                stream: &str,
                timeframe: mdhost_core::domain::Timeframe,
                gaps: &[$crate::StreamGap],
            ) -> Result<(), $crate::StoreError> {
                $crate::gaps::queue(&self.pool, stream, timeframe, gaps).await
            }

            async fn queued_gaps(
                &self,
                stream: &str,
                timeframe: mdhost_core::domain::Timeframe,
            ) -> Result<Vec<$crate::StreamGap>, $crate::StoreError> {
                $crate::gaps::list(&self.pool, stream, timeframe).await
            }

            async fn quarantine_records(
                &self,
                source: &$crate::Source,
                at: chrono::DateTime<chrono::Utc>,
                rejected: &[$crate::RejectedRecord],
            ) -> Result<(), $crate::StoreError> {
                $crate::records::write(&self.pool, source, at, rejected).await
            }

            async fn quarantined_records(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::QuarantinedRecord>, $crate::StoreError> {
                $crate::records::read(&self.pool, limit).await
            }

            async fn take_quota(
                &self,
                provider: &str,
                windows: &[mdhost_core::domain::QuotaWindow],
                earlier: u32,
            ) -> Result<Option<Vec<u64>>, $crate::StoreError> {
                $crate::quotas::take(&self.pool, provider, windows, earlier).await
            }

            async fn exhaust_quota(
                &self,
                provider: &str,
                windows: &[mdhost_core::domain::QuotaWindow],
            ) -> Result<(), $crate::StoreError> {
                $crate::quotas::exhaust(&self.pool, provider, windows).await
            }

            async fn quota_usage(
                &self,
                since: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<$crate::QuotaUsage>, $crate::StoreError> {
                $crate::quotas::usage(&self.pool, since).await
            }

            async fn forget_gaps(
                &self,
                stream: &str,
                timeframe: mdhost_core::domain::Timeframe,
                gaps: &[$crate::StreamGap],
            ) -> Result<(), $crate::StoreError> {
                $crate::gaps::forget(&self.pool, stream, timeframe, gaps).await
            }

            async fn delete_bars_before(
                &self,
                timeframe: mdhost_core::domain::Timeframe,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<u64, $crate::StoreError> {
                $crate::retention::delete_bars(&self.pool, timeframe, before, limit, self.fence())
                    .await
            }

            async fn write_actions(
                &self,
                batch: &$crate::ActionsBatch,
            ) -> Result<$crate::ActionsSummary, $crate::StoreError> {
                $crate::actions::write(&self.pool, batch, self.fence()).await
            }

            async fn splits(
                &self,
                symbol: &str,
                from: chrono::NaiveDate,
                to: chrono::NaiveDate,
            ) -> Result<Vec<$crate::StoredSplit>, $crate::StoreError> {
                $crate::actions::read(&self.pool, symbol, from, to).await
            }

            async fn dividends(
                &self,
                symbol: &str,
                from: chrono::NaiveDate,
                to: chrono::NaiveDate,
            ) -> Result<Vec<$crate::StoredDividend>, $crate::StoreError> {
                $crate::actions::read(&self.pool, symbol, from, to).await
            }

            async fn quarantined_actions(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::QuarantinedAction>, $crate::StoreError> {
                $crate::actions::quarantined(&self.pool, limit).await
            }

            async fn write_series(
                &self,
                batch: &$crate::SeriesBatch,
            ) -> Result<$crate::SeriesSummary, $crate::StoreError> {
                $crate::series::write(&self.pool, batch, self.fence()).await
            }

            async fn observations(
                &self,
                series_id: &str,
                from: chrono::NaiveDate,
                to: chrono::NaiveDate,
                as_of: Option<chrono::NaiveDate>,
            ) -> Result<Vec<$crate::StoredObservation>, $crate::StoreError> {
                $crate::series::read(&self.pool, series_id, from, to, as_of).await
            }

            async fn series_meta(
                &self,
                series_id: &str,
            ) -> Result<Vec<$crate::StoredSeriesMeta>, $crate::StoreError> {
                $crate::series::meta(&self.pool, series_id).await
            }

            async fn write_instruments(
                &self,
                batch: &$crate::InstrumentsBatch,
            ) -> Result<$crate::InstrumentsSummary, $crate::StoreError> {
                $crate::instruments::write(&self.pool, batch, self.fence()).await
            }

            async fn instruments(
                &self,
                source: Option<&str>,
            ) -> Result<Vec<$crate::StoredInstrument>, $crate::StoreError> {
                $crate::instruments::read(&self.pool, source).await
            }

            async fn create_api_key(&self, key: &$crate::ApiKey) -> Result<(), $crate::StoreError> {
                $crate::keys::create(&self.pool, key).await
            }

            async fn api_key_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<$crate::ApiKey>, $crate::StoreError> {
                $crate::keys::by_hash(&self.pool, hash).await
            }

            async fn api_keys(&self) -> Result<Vec<$crate::ApiKey>, $crate::StoreError> {
                $crate::keys::all(&self.pool).await
            }

            async fn revoke_api_key(
                &self,
                name: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, $crate::StoreError> {
                $crate::keys::revoke(&self.pool, name, at).await
            }
        }
    };
}
pub(super) use impl_store;
