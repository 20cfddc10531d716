//! Rejected observations and instruments are quarantined once per key and reasons, with
//! the plugin's record as it came.

use super::*;

fn rejected(
    kind: &'static str,
    key: &str,
    raw: serde_json::Value,
    codes: &[ReasonCode],
) -> RejectedRecord {
    RejectedRecord {
        kind: kind.into(),
        key: key.into(),
        raw,
        reasons: codes.iter().map(|c| Reason::new(*c, "detail")).collect(),
    }
}

async fn rejected_records_are_kept_once_per_key_and_reasons(store: Arc<dyn Store>) {
    let dot = serde_json::json!({ "date": "2023-10-01", "value": "." });
    let obs = rejected(
        "observation",
        "GDP 2023-10-01 -",
        dot.clone(),
        &[ReasonCode::DecimalMalformed],
    );
    let inst = rejected(
        "instrument",
        "X:BTCUSD",
        serde_json::json!({ "symbol": "btc usd" }),
        &[ReasonCode::SymbolNotCanonical],
    );
    let src = source("fred");
    // Two copies in one call and a third later: one row seen three times.
    store
        .quarantine_records(
            &src,
            t("2025-07-08T15:00:00Z"),
            &[obs.clone(), obs.clone(), inst],
        )
        .await
        .unwrap();
    store
        .quarantine_records(&src, t("2025-07-08T16:00:00Z"), &[obs.clone()])
        .await
        .unwrap();
    // Other reasons for the same key are another row.
    let other = rejected(
        "observation",
        "GDP 2023-10-01 -",
        dot.clone(),
        &[ReasonCode::RangeOutside],
    );
    store
        .quarantine_records(&src, t("2025-07-08T17:00:00Z"), &[other])
        .await
        .unwrap();
    let rows = store.quarantined_records(10).await.unwrap();
    let seen: Vec<(&str, &str, &str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.kind.as_str(),
                r.key.as_str(),
                r.reasons[0].code.as_str(),
                r.seen,
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("observation", "GDP 2023-10-01 -", "range.outside", 1),
            ("observation", "GDP 2023-10-01 -", "decimal.malformed", 3),
            ("instrument", "X:BTCUSD", "symbol.not_canonical", 1),
        ]
    );
    assert_eq!(rows[1].raw, dot, "the record as the plugin sent it");
    assert_eq!(rows[1].source, "fred");
}

both!(rejected_records_are_kept_once_per_key_and_reasons);
