//! The seam between the store's two SQL dialects. Statements both backends share are built
//! once with sqlx's `QueryBuilder`, which writes each backend's placeholders (`$1`, `?`);
//! what else differs between them — how a value binds, how a statement runs — is one
//! item of [`Dialect`] each, so that shared code names no bound but `DB: Dialect`.

use std::future::Future;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, Pool, Postgres, QueryBuilder, Sqlite, Type};

use super::StoreError;
use super::rows::Columns;

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
    type Int: for<'t> Encode<'t, Self> + Type<Self> + Send;
    /// A row as the shared decoders read it.
    type Found: Columns + Send;

    fn at(t: DateTime<Utc>) -> Self::At;
    fn text(s: &str) -> Self::Text;
    /// A select-list item reading `column` as text (Postgres keeps a raw value such as a
    /// quarantined bar's trade count as NUMERIC; SQLite as TEXT already).
    fn as_text(column: &str) -> String;
    fn int(n: i64) -> Self::Int;

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
    };
}

impl Dialect for Postgres {
    type At = DateTime<Utc>;
    type Text = String;
    type Int = i64;

    fn at(t: DateTime<Utc>) -> Self::At {
        t
    }
    fn text(s: &str) -> Self::Text {
        s.to_owned()
    }
    fn as_text(column: &str) -> String {
        format!("{column}::text AS {column}")
    }
    fn int(n: i64) -> Self::Int {
        n
    }

    runs_statements!(PgRow);
}

impl Dialect for Sqlite {
    type At = i64;
    type Text = String;
    type Int = i64;

    fn at(t: DateTime<Utc>) -> Self::At {
        super::convert::to_nanos(t)
    }
    fn text(s: &str) -> Self::Text {
        s.to_owned()
    }
    fn as_text(column: &str) -> String {
        column.to_owned()
    }
    fn int(n: i64) -> Self::Int {
        n
    }

    runs_statements!(SqliteRow);
}
