//! Fencing a cluster's writes: a host writes under the term it last led in; once a newer
//! term is claimed its writes are refused as `Fenced`, on every write path, and neither
//! retried nor spooled by the outage wrapper.

use super::*;

fn is_fenced(r: Result<impl std::fmt::Debug, StoreError>, term: u64, newest: u64) -> bool {
    matches!(r, Err(StoreError::Fenced { term: t, newest: n, .. }) if t == term && n == newest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_term_was_claimed_cannot_write() {
    let db = TestDb::postgres().await;
    let url = db.pg_url().unwrap();
    let host = |cluster: &str| {
        let fence = Arc::new(Fence::new(cluster));
        let url = url.clone();
        async move {
            let store = PgStore::connect(&url).await.unwrap().fenced(fence.clone());
            (store, fence)
        }
    };
    let (a, fence_a) = host("prod").await;
    let (b, fence_b) = host("prod").await;
    let (other, fence_other) = host("test").await;

    // A leads in the first term and writes.
    assert_eq!(a.claim_term(&fence_a).await.unwrap(), 1);
    let first = batch("src", vec![bar("AAPL", "2025-07-08T14:30:00Z", "1.5")]);
    a.write(&first).await.unwrap();

    // B takes the lead (A stalled): B writes, A is refused on every path.
    assert_eq!(b.claim_term(&fence_b).await.unwrap(), 2);
    let second = batch("src", vec![bar("AAPL", "2025-07-08T14:31:00Z", "1.6")]);
    b.write(&second).await.unwrap();
    let late = batch("src", vec![bar("AAPL", "2025-07-08T14:32:00Z", "1.7")]);
    assert!(is_fenced(a.write(&late).await, 1, 2));
    let actions = ActionsBatch::new(source("src"), t("2025-07-08T15:00:00Z"));
    assert!(is_fenced(a.write_actions(&actions).await, 1, 2));
    let series = SeriesBatch::new(source("fred"), "GDP", t("2025-07-08T15:00:00Z"));
    assert!(is_fenced(a.write_series(&series).await, 1, 2));
    let starts: Vec<String> = all_bars(&b, "AAPL")
        .await
        .iter()
        .map(|b| b.bar.start.to_rfc3339())
        .collect();
    assert_eq!(
        starts,
        ["2025-07-08T14:30:00+00:00", "2025-07-08T14:31:00+00:00"],
        "the fenced write left nothing"
    );

    // A leads again later: a new term, in which B is the one refused.
    assert_eq!(a.claim_term(&fence_a).await.unwrap(), 3);
    assert!(is_fenced(b.write(&late).await, 2, 3));

    // The outage wrapper neither retries nor spools a fenced write.
    let dir = tempfile::tempdir().unwrap();
    let spooled = Resilient::new(
        Arc::new(b),
        dir.path().join("spool.jsonl"),
        RetryPolicy::default(),
    );
    assert!(is_fenced(spooled.write(&late).await, 2, 3));
    assert_eq!(spooled.spooled().await.unwrap(), 0);

    // Another cluster on the same store has terms of its own.
    assert_eq!(other.claim_term(&fence_other).await.unwrap(), 1);
    other.write(&late).await.unwrap();
    a.write(&late).await.unwrap();
}
