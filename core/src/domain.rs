//! Host-side domain types: what the rest of the host works with instead of WIT bindings.
//! Plugin output is converted into these in exactly one place (`runtime::convert`).

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use mdhost_model::{
    AssetClass, ClassSet, ParseTimeframeError, RawDecimal, TimeUnit, Timeframe,
};

/// A bar as a plugin returned it: times converted to UTC instants, decimals still the
/// plugin's exact digits ([`RawDecimal`]: scaled where they fit, text otherwise). Validation (not the boundary) decides whether the text parses,
/// so that a malformed value is quarantined with its reason rather than dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawBar {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub open: RawDecimal,
    pub high: RawDecimal,
    pub low: RawDecimal,
    pub close: RawDecimal,
    pub volume: Option<RawDecimal>,
    pub vwap: Option<RawDecimal>,
    pub trades: Option<u64>,
    pub complete: bool,
}

/// A bar that passed the hard validation rules: exact decimals, normalized (trailing zeros
/// stripped, so that "189.80" and "189.8" are one value on every backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Option<Decimal>,
    pub vwap: Option<Decimal>,
    /// Fits a signed 64-bit column; validation rejects larger counts.
    pub trades: Option<i64>,
    pub complete: bool,
}

impl Bar {
    /// The exclusive end of the interval (the start plus one timeframe; months by calendar).
    pub fn end(&self) -> DateTime<Utc> {
        self.timeframe.end_of(self.start)
    }
}

/// A validated bar as text again (its normalized decimals, not the plugin's spelling):
/// for a bar that passed alone but is quarantined with another copy of its key.
impl From<&Bar> for RawBar {
    fn from(b: &Bar) -> Self {
        RawBar {
            symbol: b.symbol.clone(),
            timeframe: b.timeframe,
            start: b.start,
            open: raw(b.open),
            high: raw(b.high),
            low: raw(b.low),
            close: raw(b.close),
            volume: b.volume.map(raw),
            vwap: b.vwap.map(raw),
            trades: b.trades.and_then(|t| u64::try_from(t).ok()),
            complete: b.complete,
        }
    }
}

/// An exact decimal as the raw form of its own digits (as written, scale included).
pub fn raw(d: Decimal) -> RawDecimal {
    match i64::try_from(d.mantissa()) {
        Ok(m) => RawDecimal::scaled(m, d.scale() as u8),
        Err(_) => RawDecimal::text(d.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    pub requests: u32,
    pub per_seconds: u32,
}

/// What a plugin says about itself (`describe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub asset_classes: Vec<AssetClass>,
    pub timeframes: Vec<Timeframe>,
    pub allowed_hosts: Vec<String>,
    pub secrets: Vec<String>,
    pub default_rate_limit: RateLimit,
    pub max_symbols_per_request: u32,
    pub streaming: bool,
    /// The kinds of data the plugin serves (a 0.1 plugin serves bars only).
    pub kinds: Vec<DataKind>,
    /// Request quotas beyond the rate limit, as the plugin declares them.
    pub default_quotas: Vec<Quota>,
    /// Options the operator may set in `[plugins.<name>.options]`.
    pub options: Vec<OptionSpec>,
}

/// A kind of data a plugin can serve (the WIT `data-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataKind {
    Bars,
    CorporateActions,
    EconomicSeries,
    Instruments,
}

/// The calendar period of a quota: UTC days or UTC months.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum QuotaPeriod {
    Day,
    Month,
}

impl QuotaPeriod {
    /// The period's name as configuration and the store spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaPeriod::Day => "day",
            QuotaPeriod::Month => "month",
        }
    }

    /// The period `[start, end)` that holds `now`: its UTC day or UTC calendar month.
    pub fn window(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let day = now.date_naive();
        let (start, end) = match self {
            QuotaPeriod::Day => (day, day + chrono::Days::new(1)),
            QuotaPeriod::Month => {
                let first = day.with_day(1).expect("day 1 exists");
                (first, first + chrono::Months::new(1))
            }
        };
        let midnight = |d: chrono::NaiveDate| d.and_time(chrono::NaiveTime::MIN).and_utc();
        (midnight(start), midnight(end))
    }
}

impl std::str::FromStr for QuotaPeriod {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "day" => Ok(QuotaPeriod::Day),
            "month" => Ok(QuotaPeriod::Month),
            other => Err(format!("unknown quota period {other:?} (day, month)")),
        }
    }
}

/// At most `requests` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    pub requests: u32,
    pub period: QuotaPeriod,
}

/// One quota's current period, as a request is counted against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaWindow {
    pub period: QuotaPeriod,
    /// Start of the UTC day or month the count belongs to.
    pub start: DateTime<Utc>,
    pub limit: u32,
}

/// What values a plugin option takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum OptionKind {
    Flag,
    Integer { min: i64, max: i64 },
    Text,
    Choice { words: Vec<String> },
}

/// The value of a plugin option.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OptionValue {
    Flag(bool),
    Integer(i64),
    Text(String),
}

impl OptionKind {
    /// Whether `value` is one this kind takes.
    pub fn admits(&self, value: &OptionValue) -> bool {
        match (self, value) {
            (OptionKind::Flag, OptionValue::Flag(_)) | (OptionKind::Text, OptionValue::Text(_)) => {
                true
            }
            (OptionKind::Integer { min, max }, OptionValue::Integer(v)) => min <= v && v <= max,
            (OptionKind::Choice { words }, OptionValue::Text(w)) => words.contains(w),
            _ => false,
        }
    }
}

impl std::fmt::Display for OptionValue {
    /// As the operator writes it in TOML: `true`, `5`, `"live"`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionValue::Flag(b) => write!(f, "{b}"),
            OptionValue::Integer(i) => write!(f, "{i}"),
            OptionValue::Text(t) => write!(f, "{t:?}"),
        }
    }
}

impl std::fmt::Display for OptionKind {
    /// How the kind reads in an error: "true or false", "an integer in [1, 10]", …
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OptionKind::Flag => f.write_str("true or false"),
            OptionKind::Integer { min, max } => write!(f, "an integer in [{min}, {max}]"),
            OptionKind::Text => f.write_str("a string"),
            OptionKind::Choice { words } => write!(f, "one of {}", words.join(", ")),
        }
    }
}

/// An option a plugin declares in `describe`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OptionSpec {
    pub name: String,
    pub description: String,
    pub kind: OptionKind,
    pub default: OptionValue,
}

impl ProviderInfo {
    /// The declared asset classes as a set (`Policies::class_of` reads symbols by them).
    pub fn classes(&self) -> ClassSet {
        self.asset_classes.iter().collect()
    }

    /// Every declared option's value: the operator's (`set`) where given and of the
    /// declared kind, else the default. An option the plugin does not declare, or a value
    /// not of its kind, is refused with the option's name.
    pub fn resolve_options(
        &self,
        set: &BTreeMap<String, OptionValue>,
    ) -> Result<BTreeMap<String, OptionValue>, OptionError> {
        if let Some(unknown) = set
            .keys()
            .find(|k| !self.options.iter().any(|o| &o.name == *k))
        {
            let declared: Vec<&str> = self.options.iter().map(|o| o.name.as_str()).collect();
            return Err(OptionError {
                option: unknown.clone(),
                message: format!(
                    "plugin {:?} declares no such option (it declares: {})",
                    self.name,
                    if declared.is_empty() {
                        "none".to_owned()
                    } else {
                        declared.join(", ")
                    }
                ),
            });
        }
        let mut out = BTreeMap::new();
        for spec in &self.options {
            let value = match set.get(&spec.name) {
                Some(v) if !spec.kind.admits(v) => {
                    return Err(OptionError {
                        option: spec.name.clone(),
                        message: format!("{v} is not {}", spec.kind),
                    });
                }
                Some(v) => v.clone(),
                None => spec.default.clone(),
            };
            out.insert(spec.name.clone(), value);
        }
        Ok(out)
    }
}

/// An operator's option the plugin does not take.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("options.{option}: {message}")]
pub struct OptionError {
    pub option: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BarsRequest {
    pub symbols: Vec<String>,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BarsPage {
    pub bars: Vec<RawBar>,
    pub next_cursor: Option<String>,
    /// What the provider had already adjusted each symbol's bars in this page for; a
    /// symbol not listed was sent as traded ([`Adjustment::Raw`]).
    pub adjusted: BTreeMap<String, Adjustment>,
}

/// What a provider had restated a series' prices (and volumes) for when it sent them, as
/// of that moment: stored with each bar beside its `ingested_at`, so that the read side
/// can undo or extend the provider's adjustment for any as-of date.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Adjustment {
    /// As traded.
    #[default]
    Raw,
    /// Restated for every split up to the time it was sent.
    Splits,
    /// Restated for splits and for dividends.
    SplitsAndDividends,
}

impl Adjustment {
    pub const ALL: [Adjustment; 3] = [Self::Raw, Self::Splits, Self::SplitsAndDividends];

    /// The spelling stored and shown: `raw`, `splits`, `splits-and-dividends`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Raw => "raw",
            Self::Splits => "splits",
            Self::SplitsAndDividends => "splits-and-dividends",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// Corporate actions of `symbols` whose ex-date lies in [start, end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionsRequest {
    pub symbols: Vec<String>,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub cursor: Option<String>,
}

/// A split as the plugin sent it: each share before `ex_date` becomes
/// `numerator / denominator` shares (decimal text, validated later like a bar's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawSplit {
    pub symbol: String,
    pub ex_date: NaiveDate,
    pub numerator: String,
    pub denominator: String,
    pub provider_id: Option<String>,
}

/// What kind of cash distribution a dividend is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DividendKind {
    Regular,
    Special,
    CapitalGains,
    ReturnOfCapital,
    Other,
}

/// A cash dividend as the plugin sent it: `amount` per share in `currency`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawDividend {
    pub symbol: String,
    pub ex_date: NaiveDate,
    pub amount: String,
    pub currency: String,
    pub kind: DividendKind,
    pub declared_date: Option<NaiveDate>,
    pub record_date: Option<NaiveDate>,
    pub pay_date: Option<NaiveDate>,
    pub provider_id: Option<String>,
}

/// One page of corporate actions.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ActionsPage {
    pub splits: Vec<RawSplit>,
    pub dividends: Vec<RawDividend>,
    pub next_cursor: Option<String>,
}

/// Which vintage of a revised economic series to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vintage {
    /// The values as they stand today.
    Latest,
    /// The values as they were known on this date.
    AsOf(NaiveDate),
    /// Every value ever published, each with its realtime period.
    All,
}

/// Observations of one economic series whose date lies in [start, end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRequest {
    pub series_id: String,
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub vintage: Vintage,
    pub cursor: Option<String>,
}

/// One observation as the plugin sent it; `value: None` is a missing value, never zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawObservation {
    pub date: NaiveDate,
    pub value: Option<String>,
    pub realtime_start: Option<NaiveDate>,
    pub realtime_end: Option<NaiveDate>,
}

/// What a series measures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeriesMeta {
    pub title: String,
    pub units: String,
    pub frequency: String,
    pub seasonal_adjustment: Option<String>,
    pub last_updated: Option<DateTime<Utc>>,
}

/// One page of a series' observations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesPage {
    pub series_id: String,
    pub meta: Option<SeriesMeta>,
    pub observations: Vec<RawObservation>,
    pub next_cursor: Option<String>,
}

/// The provider's instruments, optionally of one asset class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentsRequest {
    pub asset_class: Option<AssetClass>,
    pub cursor: Option<String>,
}

/// One instrument a provider lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// The canonical symbol.
    pub symbol: String,
    /// The provider's own spelling.
    pub provider_symbol: String,
    pub name: Option<String>,
    pub asset_class: AssetClass,
    /// ISO 10383 MIC where known.
    pub exchange: Option<String>,
    pub currency: Option<String>,
    pub active: bool,
    pub listed: Option<NaiveDate>,
    pub delisted: Option<NaiveDate>,
}

/// One page of instruments.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct InstrumentsPage {
    pub instruments: Vec<Instrument>,
    pub next_cursor: Option<String>,
}

/// How a stream connection is carried (the WIT `streaming.transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StreamTransport {
    /// A WebSocket (`wss://`, or `ws://` where the operator allows plain http).
    Websocket,
    /// A long-lived HTTP GET whose body is newline-delimited messages.
    HttpLines,
}

/// A plugin's plan of a stream connection; placeholders (`{{secret:NAME}}`) still intact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPlan {
    pub transport: StreamTransport,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Text frames sent, in order, right after the connection opens.
    pub on_open: Vec<String>,
}

/// A top-of-book quote as the plugin sent it (decimal text unparsed, like [`RawBar`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawQuote {
    pub symbol: String,
    pub time: DateTime<Utc>,
    pub bid: String,
    pub ask: String,
    pub bid_size: Option<String>,
    pub ask_size: Option<String>,
}

/// One trade print as the plugin sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTrade {
    pub symbol: String,
    pub time: DateTime<Utc>,
    pub price: String,
    pub size: Option<String>,
}

/// What one stream message meant (the WIT `streaming.event`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    Bar(RawBar),
    Quote(RawQuote),
    Trade(RawTrade),
    /// Text to send back on the same connection (auth, subscribe); placeholders intact.
    Reply(String),
    Heartbeat,
    Status(String),
    Error(ProviderError),
}

/// A failure the plugin classified (the WIT `provider-error`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "kind", content = "detail", rename_all = "kebab-case")]
pub enum ProviderError {
    #[error("rate limited{}", .0.map(|s| format!(" (retry in {s} s)")).unwrap_or_default())]
    RateLimited(Option<u32>),
    #[error("quota exhausted{}", .0.map(|t| format!(" until {}", t.to_rfc3339())).unwrap_or_default())]
    QuotaExhausted(Option<DateTime<Utc>>),
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("unknown symbol: {0}")]
    UnknownSymbol(String),
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("bad response: {0}")]
    BadResponse(String),
    #[error("transient: {0}")]
    Transient(String),
}

impl ProviderError {
    /// Whether the provider itself is failing (rate-limited past retries, refusing the key,
    /// down): what a circuit breaker counts. A symbol it does not know, an answer that does
    /// not parse, or a spent quota (its gate waits for the renewal) is not.
    pub fn blames_provider(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited(_)
                | ProviderError::Unauthorized(_)
                | ProviderError::Transient(_)
        )
    }

    /// Stable kind name, used in metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::QuotaExhausted(_) => "quota-exhausted",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::UnknownSymbol(_) => "unknown-symbol",
            ProviderError::Unsupported(_) => "unsupported",
            ProviderError::BadResponse(_) => "bad-response",
            ProviderError::Transient(_) => "transient",
        }
    }
}
