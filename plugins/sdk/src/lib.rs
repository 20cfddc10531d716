//! Guest-side helpers for mdhost provider plugins: the WIT bindings of contract 0.2.0,
//! plus the pieces every REST adapter needs (URLs with secret placeholders, HTTP with
//! classified errors, exact decimal text, UTC time parsing, bars as columns), so that an
//! adapter is mostly its parsing code.
//!
//! A plugin implements [`Provider`] (its kinds of data; what it leaves out answers
//! `unsupported`) and [`Stream`] (or `no_stream!`), then exports itself:
//!
//! ```ignore
//! struct Yahoo;
//! impl mdhost_sdk::Provider for Yahoo { /* describe, fetch_bars */ }
//! mdhost_sdk::no_stream!(Yahoo);
//! mdhost_sdk::export!(Yahoo);
//! ```
//!
//! A plugin returns bars as rows ([`Bar`]); the SDK sends them as the contract's columns.

pub mod bindings {
    //! Generated bindings of the `mdhost:provider@0.2.0` world. Plugins use the SDK's
    //! traits and [`crate::export`], not these directly.
    wit_bindgen::generate!({
        path: "../../wit/0.2.0",
        world: "provider-plugin",
        pub_export_macro: true,
        export_macro_name: "__export_wit",
        default_bindings_module: "mdhost_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

// Every plugin built on the SDK allocates through talc (see Cargo.toml). Each call runs in
// a fresh instance, so the heap only ever lives for one call or one stream connection.
#[cfg(all(target_family = "wasm", not(target_feature = "atomics")))]
#[global_allocator]
static TALC: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

pub mod actions;
pub mod columns;
pub mod decimal;
mod export;
pub mod fx;
pub mod http;
pub mod log;
pub mod page;
pub mod period;
pub mod ratio;
pub mod refusal;
pub mod series;
pub mod stream;
pub mod symbol_map;
pub mod time;
pub mod url;

/// Canonical symbols, read by the same rules as the host reads them.
pub use mdhost_model::symbol;

pub use bindings::exports::mdhost::provider::provider::{
    ActionsPage, ActionsRequest, BarsRequest, DataKind, Dividend, DividendKind, Info, Instrument,
    InstrumentsPage, InstrumentsRequest, Observation, OptionKind, OptionSpec, Quota, QuotaPeriod,
    RateLimit, SeriesMeta, SeriesPage, SeriesRequest, Split, Vintage,
};
pub use bindings::exports::mdhost::provider::streaming::{Plan, Transport};
pub use bindings::mdhost::provider::types::{
    Adjustment, AssetClass, Date, OptionValue, ProviderError, Quote, TimeUnit, Timeframe,
    Timestamp, Trade,
};
pub use decimal::Dec;
pub use export::{Adapter, Provider, Stream};
pub use mdhost_model::RawDecimal;

/// One OHLCV bar as a plugin builds it: a row. The SDK turns a page's rows into the
/// contract's columns (see [`columns`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The canonical symbol the host asked for.
    pub symbol: String,
    pub timeframe: Timeframe,
    /// Start of the interval, UTC, aligned to the timeframe.
    pub start: Timestamp,
    /// Decimals as the provider wrote them: a [`Dec`] goes in with `.into()`, as does
    /// text (`"1.5".into()`); the host judges what does not parse.
    pub open: RawDecimal,
    pub high: RawDecimal,
    pub low: RawDecimal,
    pub close: RawDecimal,
    pub volume: Option<RawDecimal>,
    pub vwap: Option<RawDecimal>,
    pub trades: Option<u64>,
    /// False while the interval is still open.
    pub complete: bool,
}

impl Bar {
    /// A complete bar of `symbol` with its prices and nothing else known; the methods below
    /// add the rest:
    /// `Bar::new(sym, tf, start, a.o, a.h, a.l, a.c).volume(a.v).complete_by(req_end)`.
    pub fn new(
        symbol: &str,
        timeframe: Timeframe,
        start: Timestamp,
        open: impl Into<RawDecimal>,
        high: impl Into<RawDecimal>,
        low: impl Into<RawDecimal>,
        close: impl Into<RawDecimal>,
    ) -> Bar {
        Bar {
            symbol: symbol.to_owned(),
            timeframe,
            start,
            open: open.into(),
            high: high.into(),
            low: low.into(),
            close: close.into(),
            volume: None,
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    pub fn volume<D: Into<RawDecimal>>(self, volume: Option<D>) -> Bar {
        Bar {
            volume: volume.map(Into::into),
            ..self
        }
    }

    pub fn vwap<D: Into<RawDecimal>>(self, vwap: Option<D>) -> Bar {
        Bar {
            vwap: vwap.map(Into::into),
            ..self
        }
    }

    pub fn trades(self, trades: Option<u64>) -> Bar {
        Bar { trades, ..self }
    }

    pub fn complete(self, complete: bool) -> Bar {
        Bar { complete, ..self }
    }

    /// Complete when its interval ends no later than `end`, the request's end
    /// ([`page::is_complete`]).
    pub fn complete_by(self, end: Timestamp) -> Bar {
        let complete = page::is_complete(self.timeframe, self.start, end);
        Bar { complete, ..self }
    }
}

/// One page of bars as rows; `next_cursor` is none on the last page.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BarsPage {
    pub bars: Vec<Bar>,
    pub next_cursor: Option<String>,
}

/// What one stream message meant, with bars as rows (sent as the contract's columns).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Bar(Bar),
    Quote(Quote),
    Trade(Trade),
    /// Text the host sends back on the same connection (auth, subscribe).
    Reply(String),
    Heartbeat,
    /// Provider status text worth logging.
    Status(String),
    Error(ProviderError),
}

/// The value of option `name`, as the operator set it or as declared by default; `None`
/// for a name `describe` does not declare, and in a native build (a plugin's tests and
/// benchmarks have no host), so `flag_option("x").unwrap_or(default)` reads the same
/// everywhere. Read options in the glue and pass them to the parsing and URL code.
pub fn option(name: &str) -> Option<OptionValue> {
    if cfg!(target_arch = "wasm32") {
        bindings::mdhost::provider::options::get(name)
    } else {
        None
    }
}

/// A flag option's value.
pub fn flag_option(name: &str) -> Option<bool> {
    match option(name)? {
        OptionValue::Flag(b) => Some(b),
        _ => None,
    }
}

/// A text or choice option's value.
pub fn text_option(name: &str) -> Option<String> {
    match option(name)? {
        OptionValue::Text(t) => Some(t),
        _ => None,
    }
}

impl Date {
    /// The calendar date of a day key (00:00 UTC of the date, as daily bars are keyed).
    pub fn of_key(key: Timestamp) -> Date {
        use chrono::Datelike;
        let d = time::utc_date(key);
        Date {
            year: d.year(),
            month: d.month() as u8,
            day: d.day() as u8,
        }
    }

    /// 00:00 UTC of the date; `None` for a date that does not exist.
    pub fn key(self) -> Option<Timestamp> {
        chrono::NaiveDate::from_ymd_opt(self.year, u32::from(self.month), u32::from(self.day))
            .map(time::date_key)
    }

    /// [`Date::key`] for a date the host sent: one that does not exist is a request the
    /// plugin cannot serve.
    pub fn day_key(self) -> Result<Timestamp, ProviderError> {
        self.key().ok_or_else(|| self.not_a_date())
    }

    /// The refusal of a date the host sent that does not exist.
    pub(crate) fn not_a_date(self) -> ProviderError {
        ProviderError::Unsupported(format!("{self} is not a date"))
    }
}

/// `&["a", "b"]` as the owned list a description holds.
fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

impl Info {
    /// A description with what most plugins leave at its default: bars only, no quotas,
    /// no options, no stream, one symbol per request, no host allowed yet. The methods
    /// below name the rest:
    ///
    /// ```ignore
    /// Info::new("fred", "0.1.0", "FRED economic series", RateLimit::per_minute(120))
    ///     .kinds(&[DataKind::EconomicSeries])
    ///     .hosts(&["api.stlouisfed.org"])
    ///     .secrets(&["api_key"])
    /// ```
    pub fn new(name: &str, version: &str, description: &str, limit: RateLimit) -> Info {
        Info {
            name: name.into(),
            version: version.into(),
            description: description.into(),
            kinds: vec![DataKind::Bars],
            asset_classes: Vec::new(),
            timeframes: Vec::new(),
            allowed_hosts: Vec::new(),
            secrets: Vec::new(),
            default_rate_limit: limit,
            default_quotas: Vec::new(),
            max_symbols_per_request: 1,
            streaming: false,
            options: Vec::new(),
        }
    }

    /// The kinds of data served (bars only when not called).
    pub fn kinds(self, kinds: &[DataKind]) -> Info {
        Info {
            kinds: kinds.to_vec(),
            ..self
        }
    }

    pub fn classes(self, classes: &[AssetClass]) -> Info {
        Info {
            asset_classes: classes.to_vec(),
            ..self
        }
    }

    pub fn timeframes(self, timeframes: Vec<Timeframe>) -> Info {
        Info { timeframes, ..self }
    }

    /// The hosts the plugin may reach; every URL it plans must be on one of them.
    pub fn hosts(self, hosts: &[&str]) -> Info {
        Info {
            allowed_hosts: owned(hosts),
            ..self
        }
    }

    /// The secrets' names, which URLs and messages name as `{{secret:<name>}}`.
    pub fn secrets(self, secrets: &[&str]) -> Info {
        Info {
            secrets: owned(secrets),
            ..self
        }
    }

    pub fn quotas(self, quotas: &[Quota]) -> Info {
        Info {
            default_quotas: quotas.to_vec(),
            ..self
        }
    }

    pub fn options(self, options: Vec<OptionSpec>) -> Info {
        Info { options, ..self }
    }

    pub fn streaming(self) -> Info {
        Info {
            streaming: true,
            ..self
        }
    }

    pub fn symbols_per_request(self, max: u32) -> Info {
        Info {
            max_symbols_per_request: max,
            ..self
        }
    }
}

impl RateLimit {
    /// `requests` per minute, the unit most providers document.
    pub const fn per_minute(requests: u32) -> RateLimit {
        RateLimit {
            requests,
            per_seconds: 60,
        }
    }
}

impl OptionSpec {
    /// A true/false option.
    pub fn flag(name: &str, description: &str, default: bool) -> Self {
        OptionSpec {
            name: name.into(),
            description: description.into(),
            kind: OptionKind::Flag,
            default: OptionValue::Flag(default),
        }
    }

    /// A free-text option.
    pub fn text(name: &str, description: &str, default: &str) -> Self {
        OptionSpec {
            name: name.into(),
            description: description.into(),
            kind: OptionKind::Text,
            default: OptionValue::Text(default.into()),
        }
    }

    /// An option that is one of `words`.
    pub fn choice(name: &str, description: &str, words: &[&str], default: &str) -> Self {
        OptionSpec {
            name: name.into(),
            description: description.into(),
            kind: OptionKind::Choice(words.iter().map(|w| (*w).to_owned()).collect()),
            default: OptionValue::Text(default.into()),
        }
    }
}

/// Declares the values of a choice option as an enum, with the option's words (`WORDS`,
/// the default first, for [`OptionSpec::choice`]), `from_word`, `word` and `from_option`
/// (the operator's value of the named option, the default where there is none, as in a
/// native build):
///
/// ```ignore
/// mdhost_sdk::choice_option! {
///     /// The US stock data feed.
///     pub enum Feed { Iex = "iex", Sip = "sip" }
/// }
/// ```
#[macro_export]
macro_rules! choice_option {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $(#[$first_meta:meta])* $first:ident = $first_word:literal
            $(, $(#[$vmeta:meta])* $variant:ident = $word:literal)* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name {
            $(#[$first_meta])* $first,
            $($(#[$vmeta])* $variant,)*
        }

        impl $name {
            /// The option's words, the default first.
            pub const WORDS: &'static [&'static str] = &[$first_word $(, $word)*];

            /// The value a word names; the default for any other (the host admits only
            /// the declared words).
            pub fn from_word(word: Option<&str>) -> Self {
                match word {
                    $(Some($word) => $name::$variant,)*
                    _ => $name::$first,
                }
            }

            /// The operator's value of option `option`.
            pub fn from_option(option: &str) -> Self {
                Self::from_word($crate::text_option(option).as_deref())
            }

            /// The value's word.
            pub fn word(self) -> &'static str {
                match self {
                    $name::$first => $first_word,
                    $($name::$variant => $word,)*
                }
            }
        }
    };
}

/// Implements [`Stream`] for a plugin that does not stream: both hooks answer
/// `unsupported`.
#[macro_export]
macro_rules! no_stream {
    ($plugin:ty) => {
        impl $crate::Stream for $plugin {}
    };
}

/// Exports a plugin that implements [`Provider`] and [`Stream`] as the component's
/// `provider` and `streaming` interfaces. It expands to nothing outside the component
/// build (wasm32): the export names are not symbols a native linker accepts, and native
/// builds of a plugin exist only for its tests and the benchmarks.
#[macro_export]
macro_rules! export {
    ($plugin:ty) => {
        #[cfg(target_arch = "wasm32")]
        type __MdhostPlugin = $crate::Adapter<$plugin>;
        #[cfg(target_arch = "wasm32")]
        $crate::bindings::__export_wit!(__MdhostPlugin with_types_in $crate::bindings);
    };
}

impl Timeframe {
    /// Shorthand constructor: `Timeframe::of(TimeUnit::Minute, 5)`.
    pub const fn of(unit: TimeUnit, count: u32) -> Self {
        Timeframe { unit, count }
    }

    /// Length of the interval in nanoseconds for fixed-length units; `None` for months,
    /// whose length depends on the month.
    pub fn nanos(&self) -> Option<i64> {
        mdhost_model::Timeframe::from(*self)
            .seconds()
            .map(|s| s * 1_000_000_000)
    }

    /// The end of the interval that starts at `start` (months by calendar).
    pub fn end_of(&self, start: Timestamp) -> Timestamp {
        match self.nanos() {
            Some(n) => start.saturating_add(n),
            None => time::add_months(start, self.count),
        }
    }
}

/// The WIT timeframe as the model's, whose rules (length, spelling) both sides share.
impl From<Timeframe> for mdhost_model::Timeframe {
    fn from(tf: Timeframe) -> Self {
        use mdhost_model::TimeUnit as U;
        let unit = match tf.unit {
            TimeUnit::Second => U::Second,
            TimeUnit::Minute => U::Minute,
            TimeUnit::Hour => U::Hour,
            TimeUnit::Day => U::Day,
            TimeUnit::Week => U::Week,
            TimeUnit::Month => U::Month,
        };
        mdhost_model::Timeframe::new(unit, tf.count)
    }
}

impl std::fmt::Display for Timeframe {
    /// `1m`, `5m`, `1h`, `1d`, `1w`, `1mo`, `30s` — the spelling the host's CLI uses.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        mdhost_model::Timeframe::from(*self).fmt(f)
    }
}

/// Decodes a JSON body into `T`, classifying a failure as `bad-response` with serde's
/// message (which names the line, column and the expected shape).
pub fn decode_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body)
        .map_err(|e| ProviderError::BadResponse(format!("could not decode JSON body: {e}")))
}
