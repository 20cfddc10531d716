//! Quota counts: a request counted only while every period has room, counts that outlast
//! the process, and hosts sharing one store never letting more through than the quota.

use super::*;
use mdhost_core::domain::{QuotaPeriod, QuotaWindow};

fn window(period: QuotaPeriod, start: &str, limit: u32) -> QuotaWindow {
    QuotaWindow {
        period,
        start: t(start),
        limit,
    }
}

async fn a_request_is_counted_only_while_every_period_has_room(store: Arc<dyn Store>) {
    let day = window(QuotaPeriod::Day, "2026-12-04T00:00:00Z", 3);
    let month = window(QuotaPeriod::Month, "2026-12-01T00:00:00Z", 4);
    let both = [day, month];
    let mut answers = vec![];
    for _ in 0..4 {
        answers.push(store.take_quota("av", &both, 0).await.unwrap());
    }
    assert_eq!(
        answers,
        vec![Some(vec![1, 1]), Some(vec![2, 2]), Some(vec![3, 3]), None],
        "the day's fourth request is refused and counted nowhere"
    );
    // The next day has room, the month has one request left.
    let next = window(QuotaPeriod::Day, "2026-12-05T00:00:00Z", 3);
    assert_eq!(
        store.take_quota("av", &[next, month], 0).await.unwrap(),
        Some(vec![1, 4])
    );
    assert_eq!(
        store.take_quota("av", &[next, month], 0).await.unwrap(),
        None
    );
    // Requests sent while the store was away are added even when the new one is refused.
    let other = window(QuotaPeriod::Day, "2026-12-04T00:00:00Z", 5);
    assert_eq!(
        store.take_quota("fred", &[other], 3).await.unwrap(),
        Some(vec![4])
    );
    assert_eq!(store.take_quota("fred", &[other], 2).await.unwrap(), None);
    // A provider that says it is spent: its windows are full, whatever was counted.
    store.exhaust_quota("poly", &[other]).await.unwrap();
    assert_eq!(store.take_quota("poly", &[other], 0).await.unwrap(), None);

    let usage = store.quota_usage(t("2026-12-01T00:00:00Z")).await.unwrap();
    let seen: Vec<(&str, QuotaPeriod, DateTime<Utc>, u64, u64)> = usage
        .iter()
        .map(|u| {
            (
                u.provider.as_str(),
                u.period,
                u.window_start,
                u.used,
                u.quota,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("av", QuotaPeriod::Day, t("2026-12-04T00:00:00Z"), 3, 3),
            ("av", QuotaPeriod::Day, t("2026-12-05T00:00:00Z"), 1, 3),
            ("av", QuotaPeriod::Month, t("2026-12-01T00:00:00Z"), 4, 4),
            ("fred", QuotaPeriod::Day, t("2026-12-04T00:00:00Z"), 6, 5),
            ("poly", QuotaPeriod::Day, t("2026-12-04T00:00:00Z"), 5, 5),
        ]
    );
    // Periods that started before `since` are left out.
    let later = store.quota_usage(t("2026-12-05T00:00:00Z")).await.unwrap();
    assert_eq!(later.len(), 1);
}

both!(a_request_is_counted_only_while_every_period_has_room);

async fn hosts_counting_at_once_never_pass_the_quota(store: Arc<dyn Store>) {
    let day = window(QuotaPeriod::Day, "2026-12-04T00:00:00Z", 25);
    let month = window(QuotaPeriod::Month, "2026-12-01T00:00:00Z", 500);
    let tasks: Vec<_> = (0..60)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.take_quota("av", &[day, month], 0).await })
        })
        .collect();
    let mut granted = 0;
    for t in tasks {
        if t.await.unwrap().unwrap().is_some() {
            granted += 1;
        }
    }
    assert_eq!(granted, 25);
    let usage = store.quota_usage(t("2026-12-01T00:00:00Z")).await.unwrap();
    let used: Vec<u64> = usage.iter().map(|u| u.used).collect();
    assert_eq!(
        used,
        vec![25, 25],
        "day, then month: refused requests count nowhere"
    );
}

both!(hosts_counting_at_once_never_pass_the_quota);
