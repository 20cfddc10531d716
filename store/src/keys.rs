//! Keys of the read API (`api_keys`), written once for both backends: each key's SHA-256,
//! what it may read and its request rate. The key itself is never stored.

use chrono::{DateTime, Utc};
use sqlx::{Pool, QueryBuilder};

use super::dialect::Dialect;
use super::rows::Columns;
use super::{ApiKey, StoreError};

const COLUMNS: &str = "name, hash, scope, per_minute, created_at, revoked_at";

fn read(r: &impl Columns) -> Result<ApiKey, StoreError> {
    let per_minute = r.int("per_minute")?;
    Ok(ApiKey {
        name: r.text("name")?,
        hash: r.text("hash")?,
        scope: r.text("scope")?,
        per_minute: u32::try_from(per_minute)
            .map_err(|e| StoreError::corrupt("per_minute", per_minute.to_string(), e))?,
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
    })
}

/// See `Store::create_api_key`.
pub(super) async fn create<DB: Dialect>(pool: &Pool<DB>, key: &ApiKey) -> Result<(), StoreError> {
    if by(pool, "name", &key.name).await?.is_some() {
        return Err(StoreError::Conflict(format!(
            "a key named {:?} exists (revoked keys keep their names)",
            key.name
        )));
    }
    let mut q = QueryBuilder::<DB>::new(format!("INSERT INTO api_keys ({COLUMNS}) VALUES ("));
    let mut v = q.separated(", ");
    v.push_bind(DB::text(&key.name))
        .push_bind(DB::text(&key.hash))
        .push_bind(DB::text(&key.scope))
        .push_bind(DB::int(i64::from(key.per_minute)))
        .push_bind(DB::at(key.created_at))
        .push_bind(DB::opt_at(key.revoked_at));
    q.push(")");
    DB::all_or_none(pool, vec![q]).await
}

async fn by<DB: Dialect>(
    pool: &Pool<DB>,
    column: &str,
    value: &str,
) -> Result<Option<ApiKey>, StoreError> {
    let mut q =
        QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM api_keys WHERE {column} = "));
    q.push_bind(DB::text(value));
    DB::optional(pool, q).await?.as_ref().map(read).transpose()
}

/// See `Store::api_key_by_hash`.
pub(super) async fn by_hash<DB: Dialect>(
    pool: &Pool<DB>,
    hash: &str,
) -> Result<Option<ApiKey>, StoreError> {
    by(pool, "hash", hash).await
}

/// See `Store::api_keys`.
pub(super) async fn all<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<ApiKey>, StoreError> {
    let q = QueryBuilder::<DB>::new(format!("SELECT {COLUMNS} FROM api_keys ORDER BY name"));
    DB::all(pool, q).await?.iter().map(read).collect()
}

/// See `Store::revoke_api_key`.
pub(super) async fn revoke<DB: Dialect>(
    pool: &Pool<DB>,
    name: &str,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    match by(pool, "name", name).await? {
        Some(k) if k.revoked_at.is_none() => {
            let mut q = QueryBuilder::<DB>::new("UPDATE api_keys SET revoked_at = ");
            q.push_bind(DB::at(at))
                .push(" WHERE name = ")
                .push_bind(DB::text(name));
            DB::all_or_none(pool, vec![q]).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
