//! The streaming provider plugins (polygon, alpaca, binance, oanda) as built components in
//! the host's runtime: `connect` plans that the host accepts under the repository's
//! plugins.toml (secrets substituted for the stream host only), and the providers' real
//! frames from `plugins/<name>/testdata/` turned into events through the WIT boundary.

mod common;

use std::path::Path;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use mdhost::config::Config;
use mdhost::domain::ProviderError::*;
use mdhost::domain::StreamEvent::{self, Bar, Error, Heartbeat};
use mdhost::domain::Timeframe;
use mdhost::domain::{
    RawBar, RawDecimal, RawQuote, RawTrade, StreamPlan, StreamTransport, TimeUnit,
};
use mdhost::metrics::Metrics;
use mdhost::net::{ReqwestTransport, RetryPolicy};
use mdhost::runtime::capabilities::stream::WirePlan;
use mdhost::runtime::{Plugin, PluginInstance, Runtime, RuntimeOptions};

use data::*;

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const M1: Timeframe = Timeframe::new(TimeUnit::Minute, 1);
const S1: Timeframe = Timeframe::new(TimeUnit::Second, 1);

/// The auth replies as the plugins write them: placeholders, for the host to fill.
const POLYGON_AUTH: &str = r#"{"action":"auth","params":"{{secret:api_key}}"}"#;
const ALPACA_AUTH: &str =
    r#"{"action":"auth","key":"{{secret:key_id}}","secret":"{{secret:secret_key}}"}"#;

/// The component `name` with `config`'s settings for it. Each secret gets the value
/// `dummy-<its name>` directly (as the replay harness does) instead of through its
/// environment variable, so no test mutates the process environment; the host bindings
/// are the config's.
async fn load(name: &str, config: &Config) -> Plugin {
    let runtime = Runtime::new(RuntimeOptions {
        // No disk cache: compiling the components takes seconds and leaves nothing behind.
        cache_dir: None,
        pooling: false,
        transport: Arc::new(ReqwestTransport::new().unwrap()),
        retry: RetryPolicy::default(),
        metrics: Arc::new(Metrics::new()),
    })
    .unwrap();
    let mut settings = config.plugin(name);
    for (secret, setting) in &mut settings.secrets {
        setting.value = Some(format!("dummy-{secret}"));
    }
    let wasm = common::provider_wasm(name);
    let plugin = runtime.load_file(&wasm, |_| settings).await.unwrap();
    assert!(plugin.info().streaming, "{name} says it streams");
    plugin
}

/// One connection as the host's stream session holds it: the instance (which keeps the
/// connection's handshake state), the plugin's plan, and the plan the host accepted.
struct Conn {
    inst: PluginInstance,
    plan: StreamPlan,
    wire: WirePlan,
}

/// Plans a connection on a fresh instance and has the host accept the plan: no
/// placeholder may reach the wire.
async fn connect(plugin: &Plugin, symbols: &[&str], tf: Timeframe) -> Conn {
    let mut inst = plugin.instance().await.unwrap();
    let symbols: Vec<String> = symbols.iter().map(|s| (*s).to_owned()).collect();
    let plan = inst.connect(&symbols, tf).await.unwrap().unwrap();
    let wire = inst.capabilities().stream_plan(&plan);
    let wire = wire.unwrap_or_else(|d| panic!("{plan:?}: {d}"));
    let headers = wire.headers.iter().map(|(_, v)| v);
    for text in [&wire.url].into_iter().chain(headers).chain(&wire.on_open) {
        assert!(!text.contains("{{secret:"), "on the wire: {text}");
    }
    Conn { inst, plan, wire }
}

impl Conn {
    /// A reply as the host would send it on this connection, or why it may not.
    fn send(&self, text: &str) -> Result<String, String> {
        let caps = self.inst.capabilities();
        caps.stream_reply(&self.wire.host, text).map_err(|d| d.0)
    }
}

/// Feeds `frames` in order to the connection's one instance (the session lives there) and
/// checks each frame's events.
async fn check(conn: &mut Conn, frames: &[(&str, Expect)]) {
    for (frame, expected) in frames {
        let got = conn.inst.on_message(frame.as_bytes()).await;
        let got = got.unwrap_or_else(|e| panic!("{frame}: the call failed: {e}"));
        match (got, expected) {
            (Ok(events), Some(want)) => {
                assert_eq!(&events, want, "{frame}");
            }
            (Err(BadResponse(_)), None) => {}
            (got, want) => panic!("{frame}: got {got:?}, expected {want:?}"),
        }
    }
}

/// Inputs and expected values, one short function a line (rustfmt would spread them out).
#[rustfmt::skip]
mod data {
    use super::*;

    /// The repository's plugins.toml: the operator's defaults, secrets' host bindings included.
    pub fn default_config() -> Config {
        Config::load(&Path::new(ROOT).join("plugins.toml")).unwrap()
    }
    /// A file of `plugin`'s testdata, as the provider sent or documented it.
    pub fn fixture(plugin: &str, file: &str) -> String {
        std::fs::read_to_string(format!("{ROOT}/plugins/{plugin}/testdata/{file}")).unwrap()
    }
    /// The frames (or lines) of a `.jsonl` fixture.
    pub fn lines(plugin: &str, file: &str) -> Vec<String> {
        fixture(plugin, file).lines().map(str::to_owned).collect()
    }
    /// What a frame should give: its events, or `None` for a frame refused as bad-response.
    pub type Expect = Option<Vec<StreamEvent>>;
    pub fn ok<const N: usize>(events: [StreamEvent; N]) -> Expect { Some(events.into()) }
    pub fn status(text: &str) -> StreamEvent { StreamEvent::Status(text.into()) }
    pub fn reply(text: &str) -> StreamEvent { StreamEvent::Reply(text.into()) }
    pub fn some<T: for<'a> From<&'a str>>(text: &str) -> Option<T> { Some(text.into()) }
    /// Instants as the providers write them: RFC 3339 (Alpaca, OANDA), epoch ms (the others).
    pub fn at(text: &str) -> DateTime<Utc> { text.parse().unwrap() }
    pub fn ms(millis: i64) -> DateTime<Utc> { DateTime::from_timestamp_millis(millis).unwrap() }
    pub fn websocket(url: &str) -> StreamPlan {
        let (transport, url) = (StreamTransport::Websocket, url.into());
        StreamPlan { transport, url, headers: vec![], on_open: vec![] }
    }

    /// A complete bar from "open high low close volume", without VWAP or trade count (the
    /// tables add those, `RawBar { vwap, ..bar(…) }`, where the frame has them).
    pub fn bar(symbol: &str, timeframe: Timeframe, start: DateTime<Utc>, ohlcv: &str) -> RawBar {
        let v: Vec<RawDecimal> = ohlcv.split(' ').map(RawDecimal::from).collect();
        let [open, high, low, close, volume] = <[RawDecimal; 5]>::try_from(v).unwrap();
        RawBar { symbol: symbol.into(), timeframe, start, open, high, low, close,
                 volume: Some(volume), vwap: None, trades: None, complete: true }
    }

    pub fn trade(symbol: &str, time: DateTime<Utc>, price: &str, size: &str) -> StreamEvent {
        let (symbol, price, size) = (symbol.into(), price.into(), some(size));
        StreamEvent::Trade(RawTrade { symbol, time, price, size })
    }

    /// A quote; `sizes` are the bid's and the ask's.
    pub fn quote(symbol: &str, time: &str, bid: &str, ask: &str, sizes: [&str; 2]) -> StreamEvent {
        let (symbol, time, bid, ask) = (symbol.into(), at(time), bid.into(), ask.into());
        let [bid_size, ask_size] = sizes.map(some);
        StreamEvent::Quote(RawQuote { symbol, time, bid, ask, bid_size, ask_size })
    }
}

#[tokio::test]
async fn polygon_answers_the_greeting_with_the_key_and_streams_aggregates() {
    let polygon = load("polygon", &default_config()).await;
    let mock = lines("polygon", "ws_mock_server_frames.jsonl");
    let am = fixture("polygon", "ws_stocks_AM_event_openapi_example.json");
    let a = fixture("polygon", "ws_stocks_A_event_openapi_example.json");

    let mut conn = connect(&polygon, &["GTE", "AMZN"], M1).await;
    assert_eq!(conn.plan, websocket("wss://socket.polygon.io/stocks"));
    // The key is in no plan but in the auth reply, filled in for socket.polygon.io.
    let auth = conn.send(POLYGON_AUTH).unwrap();
    assert_eq!(auth, r#"{"action":"auth","params":"dummy-api_key"}"#);
    #[rustfmt::skip]
    let frames: &[(&str, Expect)] = &[
        (&mock[0], ok([status("connected: Connected Successfully"), reply(POLYGON_AUTH)])),
        (&mock[1], ok([status("auth_success: authenticated"),
            reply(r#"{"action":"subscribe","params":"AM.GTE,AM.AMZN"}"#)])),
        (&mock[2], ok([status("success: subscribed to: T.AAPL")])),
        // A trade of AAPL, which this connection did not ask for.
        (&mock[3], ok([])),
        // A frame cut short is refused; the connection carries on.
        (&mock[4][..40], None),
        (&mock[4], ok([trade("AMZN", ms(1651684192536), "161.87", "1"),
            trade("AMZN", ms(1651684192717), "161.87", "100")])),
        // s = 1610144640000 = 2021-01-08T22:24:00Z.
        (&am, ok([Bar(RawBar { vwap: some("0.4488"),
            ..bar("GTE", M1, ms(1610144640000), "0.4488 0.4489 0.4486 0.4486 4110") })])),
        // A second aggregate is no bar of a minute stream.
        (&a, ok([])),
    ];
    check(&mut conn, frames).await;

    // Another connection of the same plugin has its own handshake; 1s aggregates.
    let statuses = lines("polygon", "ws_status_messages_openapi_examples.jsonl");
    let mut conn = connect(&polygon, &["SPCE", "MSFT"], S1).await;
    assert_eq!(conn.plan, websocket("wss://socket.polygon.io/stocks"));
    #[rustfmt::skip]
    let frames: &[(&str, Expect)] = &[
        (&statuses[0], ok([status("success: Connected Successfully"), reply(POLYGON_AUTH)])),
        (&statuses[1], ok([Error(RateLimited(None))])),
        (&statuses[2], ok([status("auth_success: authenticated"),
            reply(r#"{"action":"subscribe","params":"A.SPCE,A.MSFT"}"#)])),
        (&statuses[3], ok([status("success: subscribed to: T.MSFT")])),
        // s = 1610144868000 = 2021-01-08T22:27:48Z.
        (&a, ok([Bar(RawBar { vwap: some("25.3981"),
            ..bar("SPCE", S1, ms(1610144868000), "25.39 25.39 25.39 25.39 200") })])),
        (&am, ok([])),
    ];
    check(&mut conn, frames).await;
}

#[tokio::test]
async fn alpaca_authenticates_subscribes_and_classifies_its_errors() {
    let alpaca = load("alpaca", &default_config()).await;
    let sip = "docs_ws_stocks_sip_streaming_example_server_frames.jsonl";
    let sip = lines("alpaca", sip);
    let b = fixture("alpaca", "docs_ws_stocks_bar_b_event.json");
    let d = fixture("alpaca", "docs_ws_stocks_dailybar_d_event.json");

    let mut conn = connect(&alpaca, &["SPY", "AAPL", "AMD"], M1).await;
    let iex = websocket("wss://stream.data.alpaca.markets/v2/iex");
    assert_eq!(conn.plan, iex);
    let auth = conn.send(ALPACA_AUTH).unwrap();
    let sent = r#"{"action":"auth","key":"dummy-key_id","secret":"dummy-secret_key"}"#;
    assert_eq!(auth, sent);
    #[rustfmt::skip]
    let frames: &[(&str, Expect)] = &[
        (&sip[0], ok([status("connected"), reply(ALPACA_AUTH)])),
        (&sip[1], ok([status("authenticated"),
            reply(r#"{"action":"subscribe","bars":["SPY","AAPL","AMD"],"updatedBars":["SPY","AAPL","AMD"]}"#)])),
        (&sip[2], ok([trade("AAPL", at("2021-02-22T15:51:44.208Z"), "126.55", "1")])),
        (&sip[3][..50], None),
        // Three quotes in one frame, in order; times with 7 and 9 fractional digits.
        (&sip[3], ok([
            quote("AMD", "2021-02-22T15:51:45.3355677Z", "87.66", "87.67", ["1", "1"]),
            quote("AMD", "2021-02-22T15:51:45.335689322Z", "87.66", "87.68", ["1", "4"]),
            quote("AMD", "2021-02-22T15:51:45.335806018Z", "87.66", "87.67", ["1", "1"]),
        ])),
        // The documented minute bar has no `n` or `vw`; the day so far is no minute bar.
        (&b, ok([Bar(bar("SPY", M1, at("2021-02-22T19:15:00Z"),
            "388.985 389.13 388.975 389.12 49378"))])),
        (&d, ok([])),
    ];
    check(&mut conn, frames).await;

    // Crypto pairs stream from their own endpoint.
    let conn = connect(&alpaca, &["BTC/USD"], M1).await;
    let crypto = websocket("wss://stream.data.alpaca.markets/v1beta3/crypto/us");
    assert_eq!(conn.plan, crypto);

    // Every documented error code, after the handshake, line by line.
    let control = lines("alpaca", "docs_ws_stocks_control_and_error_frames.jsonl");
    let mut conn = connect(&alpaca, &["IBM"], M1).await;
    let text = |t: &str| format!("Alpaca stream error {t}");
    let unauthorized = |t: &str| ok([Error(Unauthorized(text(t)))]);
    let transient = |t: &str| ok([Error(Transient(text(t)))]);
    #[rustfmt::skip]
    let expected = [
        ok([status("connected"), reply(ALPACA_AUTH)]),
        ok([status("authenticated"), reply(r#"{"action":"subscribe","bars":["IBM"],"updatedBars":["IBM"]}"#)]),
        // Alpaca did not understand what was sent: an event, not a refused frame.
        ok([Error(BadResponse(text("400: invalid syntax")))]),
        unauthorized("401: not authenticated"),
        unauthorized("402: auth failed"),
        ok([status(&text("403: already authenticated"))]),
        transient("404: auth timeout"),
        ok([Error(Unsupported(text("405: symbol limit exceeded")))]),
        ok([Error(RateLimited(None))]),
        transient("407: slow client"),
        unauthorized("408: v2 not enabled"),
        unauthorized("409: insufficient subscription"),
        transient("500: internal error"),
        ok([status("subscribed: bars IBM,AAPL,VOO; trades AAPL; quotes AMD,CLDR")]),
    ];
    assert_eq!(control.len(), expected.len());
    let frames: Vec<(&str, Expect)> = control.iter().map(String::as_str).zip(expected).collect();
    check(&mut conn, &frames).await;
}

#[tokio::test]
async fn binance_names_its_streams_in_the_url_and_streams_open_and_closed_klines() {
    let binance = load("binance", &default_config()).await;
    let kline = fixture("binance", "ws_kline_event_docs_example.json");
    let invalid = fixture("binance", "error_invalid_symbol_docs_example.json");

    let mut conn = connect(&binance, &["BTC/USDT", "BNB/BTC"], M1).await;
    let url = "wss://stream.binance.com:9443/stream?streams=btcusdt@kline_1m/bnbbtc@kline_1m";
    assert_eq!(conn.plan, websocket(url));
    // No key: the plan goes to the wire as it is, port 9443 included.
    assert_eq!(conn.wire.url, url);
    assert_eq!(conn.wire.host, "stream.binance.com");
    // The combined endpoint wraps each event (a synthetic wrapper around the real event);
    // the copy with `"x": true` is the same minute once closed.
    let wrapped = format!(r#"{{"stream":"bnbbtc@kline_1m","data":{kline}}}"#);
    let closed = kline.replace(r#""x": false"#, r#""x": true"#);
    assert_ne!(closed, kline);
    // t = 1672515780000 = 2022-12-31T19:43:00Z; the decimals are exact, sent as a scaled
    // column whose padding zeros are not the provider's digits ("0.0010" reads "0.001").
    #[rustfmt::skip]
    let bnb = |complete| Bar(RawBar {
        trades: Some(100),
        complete,
        ..bar("BNB/BTC", M1, ms(1672515780000), "0.001 0.0025 0.0015 0.002 1000")
    });
    #[rustfmt::skip]
    let frames: &[(&str, Expect)] = &[
        (&kline, ok([bnb(false)])),
        (&wrapped, ok([bnb(false)])),
        (&kline[..60], None),
        (&closed, ok([bnb(true)])),
        // On a stream of two symbols, -1121 cannot say which one is unknown.
        (&invalid, ok([Error(Unsupported("Binance error -1121: Invalid symbol.".into()))])),
    ];
    check(&mut conn, frames).await;
}

#[tokio::test]
async fn oanda_plans_an_authorized_line_stream_and_reads_prices_and_heartbeats() {
    let oanda = load("oanda", &default_config()).await;
    let stream = lines("oanda", "pricing_stream_EUR_USD_EUR_JPY_oandapyV20.jsonl");

    let mut conn = connect(&oanda, &["EUR/USD", "EUR/JPY"], M1).await;
    let url = |account: &str| {
        let base = "https://stream-fxtrade.oanda.com/v3/accounts";
        format!("{base}/{account}/pricing/stream?instruments=EUR_USD%2CEUR_JPY")
    };
    let headers = |token: &str| {
        let auth = ("authorization".to_owned(), format!("Bearer {token}"));
        vec![auth, ("accept-datetime-format".into(), "RFC3339".into())]
    };
    let plan = StreamPlan {
        transport: StreamTransport::HttpLines,
        url: url("{{secret:account_id}}"),
        headers: headers("{{secret:api_token}}"),
        on_open: vec![],
    };
    assert_eq!(conn.plan, plan);
    assert_eq!(conn.wire.host, "stream-fxtrade.oanda.com");
    assert_eq!(conn.wire.url, url("dummy-account_id"));
    assert_eq!(conn.wire.headers, headers("dummy-api_token"));
    // The best bid and ask (the first of each list), each with its liquidity.
    #[rustfmt::skip]
    let frames: &[(&str, Expect)] = &[
        (&stream[0], ok([quote("EUR/JPY", "2016-10-27T08:38:43.094548890Z",
            "114.295", "114.312", ["1000000", "1000000"])])),
        (&stream[1], ok([Heartbeat])),
        (&stream[2][..80], None),
        (&stream[2], ok([quote("EUR/USD", "2016-10-27T08:38:45.664613867Z",
            "1.09177", "1.09188", ["10000000", "10000000"])])),
        (&stream[3], ok([quote("EUR/JPY", "2016-10-27T08:38:45.681572782Z",
            "114.298", "114.315", ["1000000", "1000000"])])),
    ];
    check(&mut conn, frames).await;
}

#[tokio::test]
async fn a_secret_is_refused_on_a_stream_host_it_is_not_bound_to() {
    // The operator bound the secrets to the REST hosts only.
    let narrow = r#"
        [plugins.polygon.secrets]
        api_key = { env = "POLYGON_API_KEY", hosts = ["api.polygon.io"] }
        [plugins.oanda.secrets]
        api_token = { env = "OANDA_API_TOKEN", hosts = ["api-fxtrade.oanda.com"] }
        account_id = { env = "OANDA_ACCOUNT_ID", hosts = ["api-fxtrade.oanda.com"] }
    "#;
    let narrow = Config::parse(narrow, Path::new("narrow.toml")).unwrap();
    // A denial names the host and the setting that would permit it.
    let names = |denied: &str, host: &str, plugin: &str, secret: &str| {
        let setting = format!("[plugins.{plugin}.secrets.{secret}]");
        let named = denied.contains(&format!("{host:?}")) && denied.contains(&setting);
        assert!(named, "{denied:?} should name {host} and {setting}");
    };

    // Polygon's plan holds no secret, so the connection is allowed; its auth reply is not.
    let polygon = load("polygon", &narrow).await;
    let conn = connect(&polygon, &["AAPL"], M1).await;
    let denied = conn.send(POLYGON_AUTH).unwrap_err();
    names(&denied, "socket.polygon.io", "polygon", "api_key");

    // OANDA's plan carries secrets in its URL and a header: the plan itself is refused.
    let oanda = load("oanda", &narrow).await;
    let mut inst = oanda.instance().await.unwrap();
    let symbols = ["EUR/USD".to_owned()];
    let plan = inst.connect(&symbols, M1).await.unwrap().unwrap();
    let denied = inst.capabilities().stream_plan(&plan).unwrap_err().0;
    names(&denied, "stream-fxtrade.oanda.com", "oanda", "account_id");
}
