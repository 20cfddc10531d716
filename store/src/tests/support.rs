//! Throwaway databases for store tests: a SQLite file in a temporary directory, or a fresh
//! database on the Postgres server that is dropped again when the test ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

use crate::{PgStore, SqliteStore, Store};

/// The server the Postgres tests use; `.ci/run` and `cargo xtask test` make sure it runs.
pub fn pg_server() -> String {
    std::env::var("MDHOST_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

enum Backend {
    /// The directory is only held: dropping it deletes the database file.
    Sqlite(Arc<SqliteStore>, #[allow(dead_code)] tempfile::TempDir),
    Postgres(Arc<PgStore>, String),
}

pub struct TestDb {
    backend: Backend,
}

/// A database name unique to this process and call.
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        chrono::Utc::now().timestamp_micros() % 1_000_000
    )
}

pub async fn admin_exec(server: &str, sql: String) {
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("Postgres at {server} is not reachable ({e}); start it (cargo xtask test does)")
        });
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
}

impl TestDb {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("test.db").display());
        let store = SqliteStore::connect(&url).await.expect("open sqlite");
        TestDb {
            backend: Backend::Sqlite(Arc::new(store), dir),
        }
    }

    pub async fn postgres() -> Self {
        let server = pg_server();
        let name = unique_name("mdhost_test");
        admin_exec(&server, format!("CREATE DATABASE {name}")).await;
        let store = PgStore::connect(&format!("{server}/{name}"))
            .await
            .expect("open postgres");
        TestDb {
            backend: Backend::Postgres(Arc::new(store), name),
        }
    }

    /// A Postgres database as an mdhost with migrations up to `version` left it, holding
    /// what `seed` (SQL) puts there, then opened by this mdhost (which migrates the rest).
    pub async fn postgres_from(version: i64, seed: &'static str) -> Self {
        let server = pg_server();
        let name = unique_name("mdhost_test");
        admin_exec(&server, format!("CREATE DATABASE {name}")).await;
        let url = format!("{server}/{name}");
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        crate::migrate::postgres_until(version)
            .run(&pool)
            .await
            .expect("older migrations");
        sqlx::raw_sql(seed).execute(&pool).await.expect("seed");
        pool.close().await;
        let store = PgStore::connect(&url).await.expect("migrate and open");
        TestDb {
            backend: Backend::Postgres(Arc::new(store), name),
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match &self.backend {
            Backend::Sqlite(s, _) => s.clone(),
            Backend::Postgres(s, _) => s.clone(),
        }
    }

    /// The Postgres store itself, for what only it has (the outbox).
    pub fn pg_store(&self) -> Option<Arc<PgStore>> {
        match &self.backend {
            Backend::Postgres(s, _) => Some(s.clone()),
            Backend::Sqlite(..) => None,
        }
    }

    /// The Postgres database's URL, to open more stores on it.
    pub fn pg_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Postgres(_, name) => Some(format!("{}/{name}", pg_server())),
            Backend::Sqlite(..) => None,
        }
    }

    /// The Postgres pool, for tests of that backend alone.
    pub fn pg_pool(&self) -> Option<&sqlx::PgPool> {
        match &self.backend {
            Backend::Postgres(s, _) => Some(s.pool()),
            Backend::Sqlite(..) => None,
        }
    }

    /// Runs a raw statement on the backend (to break things on purpose).
    pub async fn exec(&self, sql: &'static str) {
        match &self.backend {
            Backend::Sqlite(s, _) => sqlx::query(sql).execute(s.pool()).await.map(|_| ()),
            Backend::Postgres(s, _) => sqlx::query(sql).execute(s.pool()).await.map(|_| ()),
        }
        .expect("test statement");
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Backend::Postgres(store, name) = &self.backend {
            // Drop runs inside the test's runtime, which cannot be blocked on; a thread with
            // its own runtime can.
            // Connections still open are ended by FORCE; closing the pool here would need
            // the test's runtime, which is busy running this drop.
            let _ = store;
            let name = name.clone();
            let server = pg_server();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    admin_exec(
                        &server,
                        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    )
                    .await;
                });
            })
            .join();
        }
    }
}
