//! Contract versions side by side: a component built against the frozen 0.1 contract and
//! one built against 0.2 are served by one host, through the same jobs and store; the 0.2
//! columns carry the hardest decimals exactly; plugin options reach the plugin as the
//! operator set them, and wrong ones are refused at load.

mod common;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};
use common::host::host;
use common::mock_provider::{self, MockConfig};
use mdhost::domain::{BarsRequest, DataKind, OptionValue, ProviderError, Timeframe};
use mdhost::net::{ReqwestTransport, RetryPolicy};
use mdhost::runtime::{LoadError, NoMetrics, PluginSettings, Runtime, RuntimeOptions};
use mdhost::store::RunStatus;
use rust_decimal::Decimal;

const NOW: i64 = 1_700_000_030;

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap()
}

#[tokio::test]
async fn a_0_1_and_a_0_2_plugin_serve_jobs_in_one_host() {
    let mock = mock_provider::start(MockConfig {
        now: Some(NOW),
        page_size: 7,
        ..MockConfig::default()
    })
    .await;
    let job = |name: &str, provider: &str, symbols: &str| {
        format!(
            "[[jobs]]\nname = \"{name}\"\nproviders = [\"{provider}\"]\nsymbols = [{symbols}]\n\
             timeframe = \"1m\"\nschedule = \"0 0 0 1 1 *\"\nlookback = \"1h\"\n\n"
        )
    };
    let config = format!(
        "{}\n[plugins.legacy]\nallow_hosts = [\"http://mock.provider.test\"]\n\n{}{}",
        mock.plugin_config(),
        job("old", "legacy", "\"BTC/USD\", \"ETH/USD\""),
        job("new", "mockrest", "\"SOL/USD\""),
    );
    let h = host(
        &[common::test_wasm("legacy"), common::test_wasm("mockrest")],
        &config,
        None,
        5,
    )
    .await;
    let registry = &h.ctx.registry;
    let legacy = registry.get("legacy").expect("the 0.1 plugin is served");
    let mockrest = registry.get("mockrest").expect("the 0.2 plugin is served");
    assert_eq!(legacy.wit_version(), "0.1.0");
    assert_eq!(mockrest.wit_version(), "0.2.0");
    // A 0.1 plugin serves bars and nothing else, with no quotas or options.
    assert_eq!(legacy.info().kinds, vec![DataKind::Bars]);
    assert!(legacy.info().options.is_empty() && legacy.info().default_quotas.is_empty());

    let from = (NOW - 3600) / 60 * 60;
    for (index, symbols) in [(0, &["BTC/USD", "ETH/USD"][..]), (1, &["SOL/USD"][..])] {
        let s = h.run_job(index, at(NOW)).await;
        assert_eq!(s.status, RunStatus::Ok, "{s:?}");
        assert_eq!(s.bars_written, 60 * symbols.len() as u64, "{s:?}");
        for sym in symbols {
            let want: Vec<String> = mock
                .state
                .series(sym, "1m", from, NOW)
                .iter()
                .map(mock_provider::MockBar::row)
                .collect();
            let got: Vec<String> = h
                .ctx
                .store
                .bars(sym, "1m".parse().unwrap(), at(0), at(NOW + 3600))
                .await
                .unwrap()
                .iter()
                .map(|b| mock_provider::stored_row(&b.bar))
                .collect();
            assert_eq!(got.len(), 60, "{sym}");
            assert_eq!(got, want, "{sym}");
        }
    }
}

fn runtime() -> Runtime {
    runtime_with(Arc::new(ReqwestTransport::new().unwrap()), None)
}

/// A runtime whose requests go to `transport`, with a compiled-component cache in `cache`.
fn runtime_with(
    transport: Arc<dyn mdhost::net::Transport>,
    cache: Option<std::path::PathBuf>,
) -> Runtime {
    Runtime::new(RuntimeOptions {
        cache_dir: cache,
        pooling: false,
        transport,
        retry: RetryPolicy::default(),
        metrics: Arc::new(NoMetrics),
    })
    .unwrap()
}

fn request(symbol: &str) -> BarsRequest {
    BarsRequest {
        symbols: vec![symbol.into()],
        timeframe: "1d".parse::<Timeframe>().unwrap(),
        start: Utc.with_ymd_and_hms(2024, 1, 2, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2024, 1, 9, 0, 0, 0).unwrap(),
        cursor: None,
    }
}

fn options(pairs: &[(&str, OptionValue)]) -> PluginSettings {
    PluginSettings {
        options: pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
        ..PluginSettings::default()
    }
}

/// The same value, whatever the scale it was written at ("2" and "2.0").
fn same_value(got: Option<&str>, want: Option<&str>) -> bool {
    match (got, want) {
        (None, None) => true,
        (Some(g), Some(w)) => Decimal::from_str(g).ok() == Decimal::from_str(w).ok(),
        _ => false,
    }
}

#[tokio::test]
async fn the_hardest_decimals_cross_the_0_2_columns_exactly() {
    // Misbehave's EXTREMES bars, as the plugin wrote them (plugins/testing/misbehave).
    let want: [[Option<&str>; 6]; 2] = [
        [
            Some("34.54999923706055"),
            Some("79228162514264337593543950335"),
            Some("0.0000000000000000000000000001"),
            Some("1.5"),
            Some("1000000000000000.12345678"),
            Some("0.00000001"),
        ],
        [
            Some("-0.5"),
            Some("9223372036854775807"),
            Some("0"),
            Some("2"),
            None,
            None,
        ],
    ];
    let rt = runtime();
    let plugin = rt
        .load_file(&common::test_wasm("misbehave"), |_| {
            PluginSettings::default()
        })
        .await
        .unwrap();
    let page = plugin
        .fetch_bars(&request("EXTREMES"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.bars.len(), 2);
    for (bar, want) in page.bars.iter().zip(want) {
        let got = [
            Some(&bar.open),
            Some(&bar.high),
            Some(&bar.low),
            Some(&bar.close),
            bar.volume.as_ref(),
            bar.vwap.as_ref(),
        ]
        .map(|d| d.map(|d| d.to_string()));
        for (g, w) in got.iter().zip(want) {
            assert!(
                same_value(g.as_deref(), w),
                "got {g:?}, want {w:?} in {bar:?}"
            );
        }
    }
    // A scaled column's padding to its common scale is not the provider's: "2" stays "2"
    // beside "1.5"; a text column keeps every digit it was given.
    assert_eq!(
        (
            page.bars[0].close.to_string(),
            page.bars[1].close.to_string()
        ),
        ("1.5".into(), "2".into())
    );
    assert_eq!(
        page.bars[0].volume.as_ref().map(ToString::to_string),
        Some("1000000000000000.12345678".into())
    );
    assert_eq!(
        (page.bars[0].trades, page.bars[1].trades),
        (Some(u64::MAX), None)
    );
    assert!(page.bars[0].complete && !page.bars[1].complete);
}

#[tokio::test]
async fn options_reach_the_plugin_as_set_and_wrong_ones_are_refused_at_load() {
    let rt = runtime();
    let wasm = common::test_wasm("misbehave");
    let answer = |settings: PluginSettings| {
        let rt = rt.clone();
        let wasm = wasm.clone();
        async move {
            let plugin = rt.load_file(&wasm, |_| settings).await?;
            let e = plugin.fetch_bars(&request("OPTIONS")).await.unwrap();
            Ok::<_, LoadError>(match e {
                Err(ProviderError::Unsupported(m)) => m,
                other => panic!("{other:?}"),
            })
        }
    };
    // Declared defaults, then the operator's values.
    assert_eq!(
        answer(PluginSettings::default()).await.unwrap(),
        "label=Some(OptionValue::Text(\"none\")) depth=Some(OptionValue::Integer(3)) unknown=None"
    );
    assert_eq!(
        answer(options(&[
            ("label", OptionValue::Text("x".into())),
            ("depth", OptionValue::Integer(10)),
        ]))
        .await
        .unwrap(),
        "label=Some(OptionValue::Text(\"x\")) depth=Some(OptionValue::Integer(10)) unknown=None"
    );
    for (set, message) in [
        (
            options(&[("depth", OptionValue::Integer(11))]),
            "invalid settings: options.depth: 11 is not an integer in [1, 10]",
        ),
        (
            options(&[("depth", OptionValue::Text("3".into()))]),
            "invalid settings: options.depth: \"3\" is not an integer in [1, 10]",
        ),
        (
            options(&[("colour", OptionValue::Flag(true))]),
            "invalid settings: options.colour: plugin \"misbehave\" declares no such option (it declares: label, depth)",
        ),
    ] {
        let e = answer(set).await.unwrap_err().to_string();
        assert!(e.contains(message), "{e:?} lacks {message:?}");
    }
}

#[tokio::test]
async fn polygons_adjusted_option_reaches_its_request() {
    let body = std::fs::read(
        common::root()
            .join("plugins/polygon/testdata/aggs_range_1_day_AAPL_2005-04-01_2005-04-04.json"),
    )
    .unwrap();
    let recorder = Arc::new(common::recorder::Recorder {
        body,
        urls: Default::default(),
    });
    // Compiled once: the second load finds the component in the cache.
    let cache = tempfile::tempdir().unwrap();
    let rt = runtime_with(recorder.clone(), Some(cache.path().to_owned()));
    let req = BarsRequest {
        symbols: vec!["AAPL".into()],
        timeframe: "1d".parse().unwrap(),
        start: Utc.with_ymd_and_hms(2005, 4, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2005, 4, 5, 0, 0, 0).unwrap(),
        cursor: None,
    };
    for (set, expected) in [
        (vec![], "adjusted=true"),
        (
            vec![("adjusted", OptionValue::Flag(false))],
            "adjusted=false",
        ),
    ] {
        let mut settings = options(&set);
        settings.secrets = [(
            "api_key".to_owned(),
            mdhost::runtime::SecretSetting {
                env: "CARGO_PKG_NAME".into(),
                hosts: vec!["api.polygon.io".into()],
                value: None,
            },
        )]
        .into();
        let plugin = rt
            .load_file(&common::provider_wasm("polygon"), |_| settings)
            .await
            .unwrap();
        let page = plugin.fetch_bars(&req).await.unwrap().unwrap();
        assert_eq!(page.bars.len(), 2);
        let url = recorder.urls.lock().unwrap().pop().unwrap();
        assert!(url.contains(expected), "{url} lacks {expected}");
    }
}

#[tokio::test]
async fn yahoo_serves_the_split_and_dividend_its_chart_carries_and_a_0_1_plugin_serves_none() {
    // The real chart body with AAPL's 4:1 split and its 0.205 USD dividend
    // (../shared/fixtures/provider-samples/yahoo, copied to plugins/yahoo/testdata).
    let body = std::fs::read(common::root().join(
        "plugins/yahoo/testdata/chart_AAPL_1d_2020-08-31_2020-11-07_split_dividend_events.json",
    ))
    .unwrap();
    let recorder = Arc::new(common::recorder::Recorder {
        body,
        urls: Default::default(),
    });
    let rt = runtime_with(recorder.clone(), None);
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let req = mdhost::domain::ActionsRequest {
        symbols: vec!["AAPL".into()],
        start: day(2020, 8, 31),
        end: day(2020, 11, 7),
        cursor: None,
    };
    let yahoo = rt
        .load_file(&common::provider_wasm("yahoo"), |_| {
            PluginSettings::default()
        })
        .await
        .unwrap();
    assert!(yahoo.info().kinds.contains(&DataKind::CorporateActions));
    let page = yahoo.fetch_actions(&req).await.unwrap().unwrap();
    let url = recorder.urls.lock().unwrap().pop().unwrap();
    assert!(url.contains("events=div%7Csplit"), "{url}");
    assert_eq!(page.splits.len(), 1, "{page:?}");
    let split = &page.splits[0];
    assert_eq!(
        (
            split.symbol.as_str(),
            split.ex_date,
            split.numerator.as_str(),
            split.denominator.as_str()
        ),
        ("AAPL", day(2020, 8, 31), "4", "1")
    );
    assert_eq!(page.dividends.len(), 1, "{page:?}");
    let dividend = &page.dividends[0];
    assert_eq!(
        (
            dividend.ex_date,
            dividend.amount.as_str(),
            dividend.currency.as_str()
        ),
        (day(2020, 11, 6), "0.205", "USD")
    );
    assert_eq!(page.next_cursor, None);

    // A 0.1 plugin has no corporate actions: answered for it, without a call.
    let legacy = rt
        .load_file(&common::test_wasm("legacy"), |_| PluginSettings::default())
        .await
        .unwrap();
    assert!(matches!(
        legacy.fetch_actions(&req).await.unwrap(),
        Err(ProviderError::Unsupported(_))
    ));
    assert!(recorder.urls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn series_and_instruments_cross_the_0_2_boundary_and_a_0_1_plugin_serves_neither() {
    let rt = runtime();
    let day = |y, m, d| chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let series = |id: &str| mdhost::domain::SeriesRequest {
        series_id: id.into(),
        start: day(2023, 1, 1),
        end: day(2024, 1, 1),
        vintage: mdhost::domain::Vintage::All,
        cursor: None,
    };
    let instruments = mdhost::domain::InstrumentsRequest {
        asset_class: None,
        cursor: None,
    };
    let misbehave = rt
        .load_file(&common::test_wasm("misbehave"), |_| {
            PluginSettings::default()
        })
        .await
        .unwrap();
    for kind in [DataKind::EconomicSeries, DataKind::Instruments] {
        assert!(misbehave.info().kinds.contains(&kind), "{kind:?}");
    }
    let page = misbehave
        .fetch_series(&series("GDP"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.series_id, "GDP");
    assert_eq!(
        page.meta.as_ref().map(|m| m.units.as_str()),
        Some("Billions of Dollars")
    );
    let values: Vec<_> = page
        .observations
        .iter()
        .map(|o| (o.date, o.value.as_deref(), o.realtime_start))
        .collect();
    // The missing value stays missing: not zero, not dropped.
    assert_eq!(
        values,
        [
            (day(2023, 7, 1), Some("27610.128"), Some(day(2024, 1, 25))),
            (day(2023, 10, 1), None, Some(day(2024, 1, 25))),
        ]
    );
    // A date that does not exist breaks the contract: the call fails, nothing is kept.
    let e = misbehave
        .fetch_series(&series("BADDATE"))
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("date 2021-02-30 does not exist"),
        "{e}"
    );
    let page = misbehave
        .fetch_instruments(&instruments)
        .await
        .unwrap()
        .unwrap();
    let listed: Vec<_> = page
        .instruments
        .iter()
        .map(|i| (i.symbol.as_str(), i.provider_symbol.as_str(), i.asset_class))
        .collect();
    assert_eq!(
        listed,
        [
            ("AAPL", "AAPL", mdhost::domain::AssetClass::Equity),
            ("BTC/USD", "X:BTCUSD", mdhost::domain::AssetClass::Crypto),
        ]
    );

    let legacy = rt
        .load_file(&common::test_wasm("legacy"), |_| PluginSettings::default())
        .await
        .unwrap();
    assert!(matches!(
        legacy.fetch_series(&series("GDP")).await.unwrap(),
        Err(ProviderError::Unsupported(_))
    ));
    assert!(matches!(
        legacy.fetch_instruments(&instruments).await.unwrap(),
        Err(ProviderError::Unsupported(_))
    ));
}
