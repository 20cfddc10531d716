//! The read API over real HTTP against a real store: keys checked by hash, scope and rate,
//! 401/403/429 in the API's JSON shape, bars as JSON, CSV and NDJSON, admin-only runs, the
//! OpenAPI description, a key revoked while in use, and `mdhost keys` creating, listing
//! and revoking keys in the same store.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mdhost::api::{self, ApiState, keys};
use mdhost::domain::{Bar, Timeframe};
use mdhost::store::{ApiKey, Source, SqliteStore, Store, WriteBatch};
use rust_decimal::Decimal;

fn t(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn day_bar(symbol: &str, day: &str, close: i64) -> Bar {
    let close = Decimal::from(close);
    Bar {
        symbol: symbol.into(),
        timeframe: "1d".parse::<Timeframe>().unwrap(),
        start: t(&format!("{day}T00:00:00Z")),
        open: close,
        high: close + Decimal::new(25, 2),
        low: close - Decimal::ONE,
        close,
        volume: Some(Decimal::from(1000)),
        vwap: None,
        trades: None,
        complete: true,
    }
}

async fn key(store: &dyn Store, name: &str, scope: &str, per_minute: u32) -> String {
    let key = keys::new_key().unwrap();
    store
        .create_api_key(&ApiKey {
            name: name.into(),
            hash: keys::hash(&key),
            scope: scope.into(),
            per_minute,
            created_at: Utc::now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    key
}

async fn json(r: reqwest::Response) -> serde_json::Value {
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

#[tokio::test]
async fn keys_guard_what_each_consumer_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("api.db");
    let url = format!("sqlite://{}", db.display());
    let store: Arc<dyn Store> = Arc::new(SqliteStore::connect(&url).await.unwrap());
    store
        .write(&WriteBatch {
            source: Source {
                provider: "yahoo".into(),
                version: "0.1.0".into(),
            },
            asset_classes: BTreeMap::new(),
            adjusted: BTreeMap::new(),
            bars: vec![
                day_bar("AAPL", "2024-01-02", 185),
                day_bar("AAPL", "2024-01-03", 184),
                day_bar("MSFT", "2024-01-02", 370),
            ],
            rejected: vec![],
            events: vec![],
            checkpoint: None,
            coverage: vec![],
            received_at: t("2024-01-04T00:00:00Z"),
            run: None,
        })
        .await
        .unwrap();
    let reader = key(&*store, "desk", "read:AAPL,BTC/*", 3).await;
    let admin = key(&*store, "ops", "admin", 100).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(api::serve(
        listener,
        ApiState::new(store.clone()),
        std::future::pending(),
    ));
    let http = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    let code = |body: &serde_json::Value| {
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let aapl = "/v1/bars?symbol=AAPL&timeframe=1d&from=2024-01-01&to=2024-01-31";

    // No key, a made-up key: 401 with the API's error shape.
    let r = get(aapl, None).await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_eq!(code(&json(r).await), "unauthorized");
    let r = get(aapl, Some("mdk_0000")).await.unwrap();
    assert_eq!(r.status(), 401);

    // In scope: the bars, exact, in each format.
    let r = get(aapl, Some(&reader)).await.unwrap();
    assert_eq!(r.status(), 200);
    let bars: serde_json::Value = json(r).await;
    assert_eq!(bars.as_array().unwrap().len(), 2);
    assert_eq!(bars[0]["high"], "185.25");
    let r = get(&format!("{aapl}&format=csv"), Some(&reader))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(
        r.text().await.unwrap().lines().count(),
        3,
        "a header and two bars"
    );
    let r = get(&format!("{aapl}&format=ndjson"), Some(&reader))
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let lines: Vec<serde_json::Value> = r
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["close"], "184");

    // Out of scope, and runs for admin keys only: 403.
    let r = get("/v1/bars?symbol=MSFT&timeframe=1d", Some(&reader))
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = json(r).await;
    assert_eq!(code(&body), "forbidden");
    assert_eq!(body["error"]["message"], "this key may not read MSFT");
    let r = get("/v1/runs", Some(&reader)).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = get("/v1/runs?limit=5", Some(&admin)).await.unwrap();
    assert_eq!(r.status(), 200);

    // Three requests a minute, the refused ones not counted: the fourth gets 429.
    let r = get(aapl, Some(&reader)).await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(code(&json(r).await), "rate_limited");

    // Actions, series and quality events, each checked against the key's scope (a series
    // id is read like a symbol); all quality events need an admin key.
    let research = key(&*store, "research", "read:AAPL,GDP", 100).await;
    let mut revised = day_bar("AAPL", "2024-01-03", 184);
    revised.close = Decimal::new(18425, 2);
    store
        .write(&WriteBatch {
            source: Source {
                provider: "yahoo".into(),
                version: "0.1.0".into(),
            },
            asset_classes: BTreeMap::new(),
            adjusted: BTreeMap::new(),
            bars: vec![revised],
            rejected: vec![],
            events: vec![],
            checkpoint: None,
            coverage: vec![],
            received_at: t("2024-01-05T00:00:00Z"),
            run: None,
        })
        .await
        .unwrap();
    let status = |path: &'static str, key: String| {
        let r = get(path, Some(&key));
        async move { r.await.unwrap().status().as_u16() }
    };
    assert_eq!(
        status("/v1/actions?symbol=AAPL", research.clone()).await,
        200
    );
    assert_eq!(
        status("/v1/actions?symbol=MSFT", research.clone()).await,
        403
    );
    assert_eq!(status("/v1/series/GDP", research.clone()).await, 200);
    assert_eq!(status("/v1/series/CPI", research.clone()).await, 403);
    assert_eq!(status("/v1/quality", research.clone()).await, 403);
    let r = get("/v1/quality?symbol=AAPL", Some(&research))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let events = json(r).await;
    assert_eq!(events["events"][0]["kind"], "revision", "{events}");
    assert_eq!(events["events"].as_array().unwrap().len(), 1);
    assert_eq!(status("/v1/quality", admin.clone()).await, 200);
    // The newest bar of many symbols at once, within the key's scope.
    let r = get("/v1/latest?symbols=AAPL,MSFT&timeframe=1d", Some(&admin))
        .await
        .unwrap();
    let latest = json(r).await;
    let got: Vec<(String, String)> = latest["bars"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["symbol"].as_str().unwrap().to_owned(),
                b["start"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("AAPL".to_owned(), "2024-01-03T00:00:00Z".to_owned()),
            ("MSFT".to_owned(), "2024-01-02T00:00:00Z".to_owned())
        ]
    );
    assert_eq!(
        status(
            "/v1/latest?symbols=AAPL,MSFT&timeframe=1d",
            research.clone()
        )
        .await,
        403
    );
    assert_eq!(
        status("/v1/latest?symbols=AAPL&timeframe=1d", research.clone()).await,
        200
    );
    assert_eq!(
        status("/v1/latest?symbols=&timeframe=1d", research.clone()).await,
        400
    );

    // Revoked while in use: refused from the next request on.
    assert_eq!(get("/v1/runs", Some(&admin)).await.unwrap().status(), 200);
    assert!(store.revoke_api_key("ops", Utc::now()).await.unwrap());
    assert_eq!(get("/v1/runs", Some(&admin)).await.unwrap().status(), 401);

    // The description needs no key.
    let r = get("/v1/openapi.json", None).await.unwrap();
    assert_eq!(r.status(), 200);
    let spec: serde_json::Value = json(r).await;
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/v1/bars"]["get"]["responses"]["429"].is_object());

    // `mdhost keys` on the same store: create (printed once), list, revoke.
    std::fs::write(dir.path().join("plugins.toml"), "").unwrap();
    let mdhost = |args: &[&str]| {
        let out = common::service::mdhost(dir.path(), "keys")
            .args(args)
            .args(["--store", &url])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, printed, _) = mdhost(&[
        "create",
        "--name",
        "ml",
        "--scope",
        "read:*",
        "--per-minute",
        "10",
    ]);
    assert!(ok);
    let new = printed.trim().to_owned();
    assert!(new.starts_with("mdk_"));
    assert_eq!(get(aapl, Some(&new)).await.unwrap().status(), 200);
    let (ok, listed, _) = mdhost(&["list"]);
    assert!(
        ok && listed.contains("ml\tread:*\t10/min") && !listed.contains(&new),
        "{listed}"
    );
    let (ok, _, err) = mdhost(&["create", "--name", "x", "--scope", "write:AAPL"]);
    assert!(!ok && err.contains("write admin, or read:"), "{err}");
    assert!(mdhost(&["revoke", "ml"]).0);
    assert_eq!(get(aapl, Some(&new)).await.unwrap().status(), 401);
    let (ok, _, err) = mdhost(&["revoke", "ml"]);
    assert!(
        !ok && err.contains("no active key is named \"ml\""),
        "{err}"
    );
}
