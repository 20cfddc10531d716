//! The Postgres outbox: empty while off; once on, every row written to bars, splits,
//! dividends, observations and quality events is in it, read back exactly as stored, with
//! the run that wrote it, in store order; marked entries leave the pending list, and
//! turned off again it takes nothing more.

use chrono::NaiveDate;

use super::*;
use mdhost_core::domain::DividendKind;
use mdhost_core::validate::actions::{Dividend, Split};

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// An entry as one line: what it is, its key, its value and its run.
fn line(e: &OutboxEntry) -> String {
    let what = match &e.record {
        OutboxRecord::Bar(b) => format!(
            "bar {} {} {}",
            b.bar.symbol,
            b.bar.start.to_rfc3339(),
            b.bar.close
        ),
        OutboxRecord::Split(s) => format!(
            "split {} {} {}/{}",
            s.action.symbol, s.action.ex_date, s.action.numerator, s.action.denominator
        ),
        OutboxRecord::Dividend(d) => format!(
            "dividend {} {} {} {}",
            d.action.symbol, d.action.ex_date, d.action.amount, d.action.currency
        ),
        OutboxRecord::Observation(o) => {
            format!(
                "observation {} {} {:?}",
                o.item.series_id, o.item.date, o.item.value
            )
        }
        OutboxRecord::Quality(q) => format!("quality {} {}", q.kind, q.symbol),
    };
    format!("{what} run={:?}", e.run)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_holds_every_written_row_exactly_with_its_run() {
    let db = TestDb::postgres().await;
    let pg = db.pg_store().unwrap();
    let store = db.store();

    // Off (as migrated): writes leave no entry.
    let first = batch("src", vec![bar("AAPL", "2025-07-08T14:30:00Z", "1.5")]);
    store.write(&first).await.unwrap();
    assert_eq!(pg.outbox_backlog().await.unwrap(), 0);
    assert!(pg.set_outbox(true).await.unwrap(), "turned on");
    assert!(!pg.set_outbox(true).await.unwrap(), "already on");

    // A run's bars, with a trailing zero that must survive; then the same source revising
    // one of them outside any run (an update and its quality event).
    let mut page = batch(
        "src",
        vec![
            bar("AAPL", "2025-07-08T14:31:00Z", "1.5000"),
            bar("MSFT", "2025-07-08T14:31:00Z", "420.10"),
        ],
    );
    page.run = Some(42);
    store.write(&page).await.unwrap();
    let mut revised = batch("src", vec![bar("AAPL", "2025-07-08T14:31:00Z", "1.51")]);
    revised.received_at = t("2025-07-09T15:00:00Z");
    store.write(&revised).await.unwrap();

    let mut actions = ActionsBatch::new(source("src"), t("2025-07-08T15:00:00Z"));
    actions.splits = vec![Split {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-31"),
        numerator: d("4"),
        denominator: d("1"),
        provider_id: None,
    }];
    actions.dividends = vec![Dividend {
        symbol: "AAPL".into(),
        ex_date: day("2020-08-07"),
        amount: d("0.820"),
        currency: "USD".into(),
        kind: DividendKind::Regular,
        declared_date: None,
        record_date: None,
        pay_date: None,
        provider_id: None,
    }];
    actions.run = Some(43);
    store.write_actions(&actions).await.unwrap();
    let mut series = SeriesBatch::new(source("fred"), "GDP", t("2025-07-08T15:00:00Z"));
    series.observations = vec![
        Observation {
            series_id: "GDP".into(),
            date: day("2025-01-01"),
            value: Some(d("29723.864")),
            realtime_start: None,
            realtime_end: None,
        },
        Observation {
            series_id: "GDP".into(),
            date: day("2025-04-01"),
            value: None,
            realtime_start: None,
            realtime_end: None,
        },
    ];
    series.run = Some(44);
    store.write_series(&series).await.unwrap();

    let pending = pg.outbox_pending(100).await.unwrap();
    assert!(
        pending.windows(2).all(|w| w[0].seq < w[1].seq),
        "store order"
    );
    let mut got: Vec<String> = pending.iter().map(line).collect();
    // A bar and its revision event are written by one statement: their order is the
    // triggers', not the data's. The bars of one key keep theirs.
    let at = |l: &str| got.iter().position(|g| g == l).unwrap_or(usize::MAX);
    assert!(
        at("bar AAPL 2025-07-08T14:31:00+00:00 1.5000 run=Some(42)")
            < at("bar AAPL 2025-07-08T14:31:00+00:00 1.51 run=None")
    );
    got.sort();
    let mut want = vec![
        "bar AAPL 2025-07-08T14:31:00+00:00 1.5000 run=Some(42)",
        "bar MSFT 2025-07-08T14:31:00+00:00 420.10 run=Some(42)",
        "bar AAPL 2025-07-08T14:31:00+00:00 1.51 run=None",
        "quality revision AAPL run=None",
        "split AAPL 2020-08-31 4/1 run=Some(43)",
        "dividend AAPL 2020-08-07 0.820 USD run=Some(43)",
        "observation GDP 2025-01-01 Some(29723.864) run=Some(44)",
        "observation GDP 2025-04-01 None run=Some(44)",
    ];
    want.sort();
    assert_eq!(got, want);
    // Exactly the stored row: provenance and all.
    let stored = all_bars(&*store, "MSFT").await;
    assert!(
        pending
            .iter()
            .any(|e| e.record == OutboxRecord::Bar(stored[0].clone()))
    );

    // Marked entries are no longer pending; pruning deletes only marked ones.
    let seqs: Vec<i64> = pending.iter().take(3).map(|e| e.seq).collect();
    pg.outbox_published(&seqs).await.unwrap();
    assert_eq!(pg.outbox_backlog().await.unwrap(), 5);
    assert_eq!(pg.outbox_pending(100).await.unwrap()[0].seq, pending[3].seq);
    assert_eq!(
        pg.outbox_prune(Utc::now() + Duration::hours(1))
            .await
            .unwrap(),
        3
    );

    // Off again: nothing more is taken.
    assert!(pg.set_outbox(false).await.unwrap());
    let later = batch("src", vec![bar("AAPL", "2025-07-08T14:40:00Z", "1.6")]);
    store.write(&later).await.unwrap();
    assert_eq!(pg.outbox_backlog().await.unwrap(), 5);
}
