//! Postgres `bars` partitioned by month (migration 0014): an existing table migrated with
//! its rows and outbox triggers, months made on first write and ahead, writes routed to
//! their month, and retention dropping whole months only when every bar in them expired.

use std::collections::BTreeMap;

use super::*;

/// Rows as an mdhost before 0014 wrote them, with the outbox's triggers installed.
const OLD_ROWS: &str = "
INSERT INTO bars (symbol, timeframe, start, open, high, low, close, volume, vwap, trades,
                  complete, source, plugin_version, ingested_at, digest, adjustment)
VALUES ('AAPL', '1m', '2024-03-04T14:30:00Z', 1, 1, 1, 1.5000, 10, NULL, 1, true, 'src', '1.0.0',
        '2024-03-04T15:00:00Z', NULL, 'raw'),
       ('AAPL', '1m', '2024-05-31T23:59:00Z', 2, 2, 2, 2, 10, NULL, 1, true, 'src', '1.0.0',
        '2024-06-01T00:00:00Z', NULL, 'raw');
SELECT outbox_triggers(true);
";

/// Each bar's series, start and close, and the table it is stored in.
async fn placed(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%s %s %s %s %s', symbol, timeframe,
                       to_char(start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), close,
                       tableoid::regclass)
         FROM bars ORDER BY start, timeframe",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

async fn partitions(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%s %s', c.relname, pg_get_expr(c.relpartbound, c.oid))
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'bars'::regclass ORDER BY c.relname",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

fn bar_tf(symbol: &str, timeframe: &str, start: &str, close: &str) -> Bar {
    let mut b = bar(symbol, start, close);
    b.timeframe = timeframe.parse().unwrap();
    b
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_table_is_attached_whole_and_new_months_get_their_own() {
    let db = TestDb::postgres_from(13, OLD_ROWS).await;
    let store = db.store();
    let pool = db.pg_pool().unwrap();
    let kind: String =
        sqlx::query_scalar("SELECT relkind::text FROM pg_class WHERE relname = 'bars'")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(kind, "p", "bars is partitioned");
    // The old table covers everything up to the month after its newest bar.
    assert_eq!(
        partitions(pool).await,
        ["bars_unpartitioned FOR VALUES FROM (MINVALUE) TO ('2024-06-01 00:00:00+00')"]
    );
    // Its rows read back exactly, through the store's own reads.
    let old = all_bars(&*store, "AAPL").await;
    assert_eq!(old.len(), 2);
    assert_eq!(old[0].bar.close.to_string(), "1.5000");

    // A write inside the old range lands in the old table, one after it in its month's
    // new partition; replaying it changes nothing.
    let b = batch(
        "src",
        vec![
            bar("AAPL", "2024-04-01T14:30:00Z", "3"),
            bar("AAPL", "2026-12-04T14:30:00Z", "4"),
        ],
    );
    check_summary(store.write(&b).await.unwrap(), (2, 0, 0, 0, 0));
    check_summary(store.write(&b).await.unwrap(), (0, 0, 2, 0, 0));
    assert_eq!(
        placed(pool).await,
        [
            "AAPL 1m 2024-03-04 14:30 1.5000 bars_unpartitioned",
            "AAPL 1m 2024-04-01 14:30 3 bars_unpartitioned",
            "AAPL 1m 2024-05-31 23:59 2 bars_unpartitioned",
            "AAPL 1m 2026-12-04 14:30 4 bars_p2026_12",
        ]
    );
    // The migration took the outbox's triggers off the old table; put back on the
    // parent (as a publishing host does at start), they see writes into any partition.
    let on_old: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'bars_unpartitioned'::regclass",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(on_old, 0);
    let pg = db.pg_store().unwrap();
    pg.set_outbox(true).await.unwrap();
    store
        .write(&batch(
            "src",
            vec![bar("AAPL", "2027-02-01T14:30:00Z", "5")],
        ))
        .await
        .unwrap();
    let pending = pg.outbox_pending(10).await.unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn months_are_made_ahead_and_an_empty_table_is_not_kept() {
    let db = TestDb::postgres().await;
    let pool = db.pg_pool().unwrap();
    assert!(
        partitions(pool).await.is_empty(),
        "no old table, no partition yet"
    );
    let made = db
        .store()
        .prepare_months(t("2026-12-05T17:00:00Z"), 2)
        .await
        .unwrap();
    assert_eq!(made, ["bars_p2026_12", "bars_p2027_01", "bars_p2027_02"]);
    assert_eq!(
        partitions(pool).await,
        [
            "bars_p2026_12 FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00')",
            "bars_p2027_01 FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00')",
            "bars_p2027_02 FOR VALUES FROM ('2027-02-01 00:00:00+00') TO ('2027-03-01 00:00:00+00')",
        ]
    );
    // Again: nothing new. A session in another time zone makes the same months.
    let store = db.store();
    assert!(
        store
            .prepare_months(t("2026-12-31T23:00:00Z"), 2)
            .await
            .unwrap()
            .is_empty()
    );
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query("SET TIME ZONE 'America/New_York'")
        .execute(&mut *conn)
        .await
        .unwrap();
    // 19:30 on 28 February in New York, March in UTC.
    let name: Option<String> =
        sqlx::query_scalar("SELECT mdhost_bar_partition('2027-03-01T00:30:00Z')")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    conn.detach();
    assert_eq!(name.as_deref(), Some("bars_p2027_03"));
    assert_eq!(
        partitions(pool).await.last().unwrap(),
        "bars_p2027_03 FOR VALUES FROM ('2027-03-01 00:00:00+00') TO ('2027-04-01 00:00:00+00')"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_drops_a_month_only_when_every_bar_in_it_expired() {
    let db = TestDb::postgres().await;
    let store = db.store();
    let pool = db.pg_pool().unwrap();
    // Another host's store with its own memory of the months.
    let other = PgStore::connect(&db.pg_url().unwrap()).await.unwrap();
    let b = batch(
        "src",
        vec![
            bar("AAPL", "2025-01-10T14:30:00Z", "1"),
            bar("MSFT", "2025-01-10T14:30:00Z", "1"),
            bar("AAPL", "2025-02-10T14:30:00Z", "2"),
            bar_tf("AAPL", "1d", "2025-02-10T00:00:00Z", "2"),
            bar("AAPL", "2025-03-10T14:30:00Z", "3"),
        ],
    );
    other.write(&b).await.unwrap();
    let one_minute = |cut: &str| BTreeMap::from([(tf(), t(cut))]);

    // 1m expires before March: January goes whole; February also holds a daily bar,
    // which is kept forever, so it stays; March is not past the cutoff.
    let dropped = store
        .drop_expired_partitions(&one_minute("2025-03-01T00:00:00Z"))
        .await
        .unwrap();
    let names: Vec<&str> = dropped.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["bars_p2025_01"]);
    assert_eq!(
        placed(pool).await,
        [
            "AAPL 1d 2025-02-10 00:00 2 bars_p2025_02",
            "AAPL 1m 2025-02-10 14:30 2 bars_p2025_02",
            "AAPL 1m 2025-03-10 14:30 3 bars_p2025_03",
        ]
    );
    // With the daily bars expiring too, February goes.
    let both = BTreeMap::from([
        (tf(), t("2025-03-01T00:00:00Z")),
        ("1d".parse().unwrap(), t("2025-03-01T00:00:00Z")),
    ]);
    let dropped = store.drop_expired_partitions(&both).await.unwrap();
    assert_eq!(dropped.len(), 1);
    assert_eq!(dropped[0].name, "bars_p2025_02");

    // The other store still believes January exists: its write finds the month gone,
    // makes it again and is written.
    let late = batch("src", vec![bar("AAPL", "2025-01-11T14:30:00Z", "9")]);
    check_summary(other.write(&late).await.unwrap(), (1, 0, 0, 0, 0));
    assert_eq!(
        placed(pool).await,
        [
            "AAPL 1m 2025-01-11 14:30 9 bars_p2025_01",
            "AAPL 1m 2025-03-10 14:30 3 bars_p2025_03",
        ]
    );
}

/// docs/scaling.md's way to split the attached old table into months, as written there.
const SPLIT: &str = "
BEGIN;
SET LOCAL TIME ZONE 'UTC';
ALTER TABLE bars DETACH PARTITION bars_unpartitioned;
SELECT mdhost_bar_partition(m)
FROM generate_series(date_trunc('month', (SELECT min(start) FROM bars_unpartitioned)),
                     (SELECT max(start) FROM bars_unpartitioned), interval '1 month') m;
INSERT INTO bars SELECT * FROM bars_unpartitioned;
DROP TABLE bars_unpartitioned;
COMMIT;
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_table_splits_into_months_as_the_scaling_guide_says() {
    let db = TestDb::postgres_from(13, OLD_ROWS).await;
    let pool = db.pg_pool().unwrap();
    let before = all_bars(&*db.store(), "AAPL").await;
    sqlx::raw_sql(SPLIT).execute(pool).await.unwrap();
    assert_eq!(
        placed(pool).await,
        [
            "AAPL 1m 2024-03-04 14:30 1.5000 bars_p2024_03",
            "AAPL 1m 2024-05-31 23:59 2 bars_p2024_05",
        ]
    );
    assert_eq!(all_bars(&*db.store(), "AAPL").await, before);
}
