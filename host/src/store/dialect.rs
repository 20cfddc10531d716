//! The seam between the store's two SQL dialects. Statements both backends share are built
//! once with sqlx's `QueryBuilder`, which writes each backend's placeholders (`$1`, `?`);
//! what else differs between them is said here, one trait item each.

use chrono::{DateTime, Utc};
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

/// How a backend stores an instant (Postgres: TIMESTAMPTZ; SQLite: INTEGER nanoseconds).
pub(super) trait Instants: Database {
    type At: for<'t> Encode<'t, Self> + Type<Self> + Send;
    fn at(t: DateTime<Utc>) -> Self::At;
}

impl Instants for Postgres {
    type At = DateTime<Utc>;
    fn at(t: DateTime<Utc>) -> Self::At {
        t
    }
}

impl Instants for Sqlite {
    type At = i64;
    fn at(t: DateTime<Utc>) -> Self::At {
        super::convert::to_nanos(t)
    }
}
