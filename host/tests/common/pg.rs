//! A throwaway Postgres database for an integration test: created on the server at
//! 127.0.0.1:5432 (or `$MDHOST_TEST_PG`) and dropped when the value is dropped.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::Connection;

pub fn server() -> String {
    std::env::var("MDHOST_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub struct PgDb {
    pub name: String,
    pub url: String,
}

async fn admin(sql: String) {
    let server = server();
    let mut conn = sqlx::PgConnection::connect(&format!("{server}/postgres"))
        .await
        .unwrap_or_else(|e| {
            panic!("Postgres at {server} is not reachable ({e}); `cargo xtask test` starts it")
        });
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .expect("admin statement");
}

impl PgDb {
    pub async fn create(prefix: &str) -> PgDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        admin(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        admin(format!("CREATE DATABASE {name}")).await;
        let url = format!("{}/{name}", server());
        PgDb { name, url }
    }

    /// Rows of a query, each row's columns cast to text and joined with `|` (to compare
    /// whole tables exactly).
    pub async fn rows(&self, sql: &str) -> Vec<String> {
        let mut conn = sqlx::PgConnection::connect(&self.url)
            .await
            .expect("connect");
        let wrapped = format!(
            "SELECT concat_ws('|', VARIADIC ARRAY(SELECT x::text FROM json_each_text(row_to_json(q)) AS j(k, x))) FROM ({sql}) q"
        );
        sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(wrapped))
            .fetch_all(&mut conn)
            .await
            .expect("query")
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop may run inside a test's runtime, which cannot be blocked on.
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(admin(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
        })
        .join();
    }
}

/// Waits until the `bars` table at `url` holds at least `n` rows, while `child` (which
/// creates the table) keeps running; panics if it ends first or makes no progress.
pub async fn wait_for_bars(url: &str, n: i64, child: &mut std::process::Child) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let count: i64 = match sqlx::PgPool::connect(url).await {
            Ok(pool) => sqlx::query_scalar("SELECT count(*) FROM bars")
                .fetch_one(&pool)
                .await
                .unwrap_or(0),
            Err(_) => 0,
        };
        if count >= n {
            return;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the child ended with {count} bars stored, before {n}"
        );
        assert!(
            std::time::Instant::now() < until,
            "no progress: {count} bars"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
