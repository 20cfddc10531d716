//! The migrations of `migrations/postgres` and `migrations/sqlite`, embedded in the binary
//! so that an installed `mdhost` migrates without its source tree. (sqlx's `migrate!`
//! macro would do the same but pulls in the whole macro crate; listing them here is cheap.)

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// (version, description, SQL), oldest first. Append; never edit a released one.
type Embedded = &'static [(i64, &'static str, &'static str)];

const POSTGRES: Embedded = &[
    (
        1,
        "init",
        include_str!("../../migrations/postgres/0001_init.sql"),
    ),
    (
        2,
        "bar digest",
        include_str!("../../migrations/postgres/0002_bar_digest.sql"),
    ),
    (
        3,
        "coverage and run account",
        include_str!("../../migrations/postgres/0003_coverage_and_run_account.sql"),
    ),
    (
        4,
        "quarantine once per key",
        include_str!("../../migrations/postgres/0004_quarantine_once_per_key.sql"),
    ),
    (
        5,
        "stream gaps",
        include_str!("../../migrations/postgres/0005_stream_gaps.sql"),
    ),
    (
        6,
        "quota usage",
        include_str!("../../migrations/postgres/0006_quota_usage.sql"),
    ),
    (
        7,
        "corporate actions",
        include_str!("../../migrations/postgres/0007_corporate_actions.sql"),
    ),
    (
        8,
        "series and instruments",
        include_str!("../../migrations/postgres/0008_series_and_instruments.sql"),
    ),
    (
        9,
        "quarantined records",
        include_str!("../../migrations/postgres/0009_quarantined_records.sql"),
    ),
    (
        10,
        "bar adjustment",
        include_str!("../../migrations/postgres/0010_bar_adjustment.sql"),
    ),
    (
        11,
        "api keys",
        include_str!("../../migrations/postgres/0011_api_keys.sql"),
    ),
    (
        12,
        "outbox",
        include_str!("../../migrations/postgres/0012_outbox.sql"),
    ),
    (
        13,
        "cluster terms",
        include_str!("../../migrations/postgres/0013_cluster_terms.sql"),
    ),
    (
        14,
        "bars partitioned",
        include_str!("../../migrations/postgres/0014_bars_partitioned.sql"),
    ),
];

const SQLITE: Embedded = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "coverage and run account",
        include_str!("../../migrations/sqlite/0002_coverage_and_run_account.sql"),
    ),
    (
        3,
        "quarantine once per key",
        include_str!("../../migrations/sqlite/0003_quarantine_once_per_key.sql"),
    ),
    (
        4,
        "stream gaps",
        include_str!("../../migrations/sqlite/0004_stream_gaps.sql"),
    ),
    (
        5,
        "quota usage",
        include_str!("../../migrations/sqlite/0005_quota_usage.sql"),
    ),
    (
        6,
        "corporate actions",
        include_str!("../../migrations/sqlite/0006_corporate_actions.sql"),
    ),
    (
        7,
        "series and instruments",
        include_str!("../../migrations/sqlite/0007_series_and_instruments.sql"),
    ),
    (
        8,
        "quarantined records",
        include_str!("../../migrations/sqlite/0008_quarantined_records.sql"),
    ),
    (
        9,
        "bar adjustment",
        include_str!("../../migrations/sqlite/0009_bar_adjustment.sql"),
    ),
    (
        10,
        "api keys",
        include_str!("../../migrations/sqlite/0010_api_keys.sql"),
    ),
];

fn migrator(list: Embedded) -> Migrator {
    let migrations: Vec<Migration> = list
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

pub fn postgres() -> Migrator {
    migrator(POSTGRES)
}

/// The Postgres migrations up to `version`: a database as an older mdhost left it, for
/// testing the migrations that follow on real rows.
#[cfg(test)]
pub fn postgres_until(version: i64) -> Migrator {
    let upto = POSTGRES.iter().take_while(|m| m.0 <= version).count();
    migrator(&POSTGRES[..upto])
}

pub fn sqlite() -> Migrator {
    migrator(SQLITE)
}
