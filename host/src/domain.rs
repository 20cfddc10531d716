//! Host-side domain types: what the rest of the host works with instead of WIT bindings.
//! Plugin output is converted into these in exactly one place (`runtime::convert`).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
}

/// A bar interval such as 1m, 5m, 1h, 1d, 1w or 1mo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timeframe {
    pub unit: TimeUnit,
    pub count: u32,
}

impl Timeframe {
    pub const fn new(unit: TimeUnit, count: u32) -> Self {
        Timeframe { unit, count }
    }

    /// Fixed length of the interval; `None` for months.
    pub fn duration(&self) -> Option<chrono::Duration> {
        let secs: i64 = match self.unit {
            TimeUnit::Second => 1,
            TimeUnit::Minute => 60,
            TimeUnit::Hour => 3600,
            TimeUnit::Day => 86_400,
            TimeUnit::Week => 7 * 86_400,
            TimeUnit::Month => return None,
        };
        Some(chrono::Duration::seconds(secs * i64::from(self.count)))
    }

    /// The end of an interval starting at `start`: one fixed duration later, or `count`
    /// calendar months for monthly bars.
    pub fn end_of(&self, start: DateTime<Utc>) -> DateTime<Utc> {
        match self.duration() {
            Some(d) => start + d,
            None => start
                .checked_add_months(chrono::Months::new(self.count))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// The start of the interval containing `t` on the UTC grid (weeks from Monday);
    /// `None` for months, whose intervals are not of one length.
    pub fn interval_start(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let len = self.duration()?.num_seconds();
        // The epoch fell on a Thursday; Monday-based weeks start three days later.
        let offset = if self.unit == TimeUnit::Week {
            3 * 86_400
        } else {
            0
        };
        let secs = t.timestamp() + offset;
        DateTime::from_timestamp(secs - secs.rem_euclid(len) - offset, 0)
    }
}

impl fmt::Display for Timeframe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.unit {
            TimeUnit::Second => "s",
            TimeUnit::Minute => "m",
            TimeUnit::Hour => "h",
            TimeUnit::Day => "d",
            TimeUnit::Week => "w",
            TimeUnit::Month => "mo",
        };
        write!(f, "{}{}", self.count, unit)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timeframe {0:?}: expected a count and a unit such as 30s, 1m, 5m, 1h, 1d, 1w or 1mo"
)]
pub struct ParseTimeframeError(String);

impl FromStr for Timeframe {
    type Err = ParseTimeframeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseTimeframeError(s.to_owned());
        let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
        let (num, unit) = s.split_at(split);
        let count: u32 = num.parse().map_err(|_| err())?;
        if count == 0 {
            return Err(err());
        }
        let unit = match unit {
            "s" => TimeUnit::Second,
            "m" | "min" => TimeUnit::Minute,
            "h" => TimeUnit::Hour,
            "d" => TimeUnit::Day,
            "w" | "wk" => TimeUnit::Week,
            "mo" => TimeUnit::Month,
            _ => return Err(err()),
        };
        Ok(Timeframe { unit, count })
    }
}

impl Serialize for Timeframe {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timeframe {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AssetClass {
    Equity,
    Etf,
    Index,
    Forex,
    Crypto,
    Commodity,
    Economic,
}

impl AssetClass {
    pub const ALL: [AssetClass; 7] = [
        AssetClass::Equity,
        AssetClass::Etf,
        AssetClass::Index,
        AssetClass::Forex,
        AssetClass::Crypto,
        AssetClass::Commodity,
        AssetClass::Economic,
    ];

    /// The lowercase name used in configuration and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            AssetClass::Equity => "equity",
            AssetClass::Etf => "etf",
            AssetClass::Index => "index",
            AssetClass::Forex => "forex",
            AssetClass::Crypto => "crypto",
            AssetClass::Commodity => "commodity",
            AssetClass::Economic => "economic",
        }
    }
}

impl FromStr for AssetClass {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetClass::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown asset class {s:?}: expected equity, etf, index, forex, crypto, commodity or economic"
                )
            })
    }
}

/// A bar as a plugin returned it: times converted to UTC instants, decimals still the
/// plugin's exact text. Validation (not the boundary) decides whether the text parses,
/// so that a malformed value is quarantined with its reason rather than dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawBar {
    pub symbol: String,
    pub timeframe: Timeframe,
    pub start: DateTime<Utc>,
    pub open: String,
    pub high: String,
    pub low: String,
    pub close: String,
    pub volume: Option<String>,
    pub vwap: Option<String>,
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
            open: b.open.to_string(),
            high: b.high.to_string(),
            low: b.low.to_string(),
            close: b.close.to_string(),
            volume: b.volume.map(|v| v.to_string()),
            vwap: b.vwap.map(|v| v.to_string()),
            trades: b.trades.and_then(|t| u64::try_from(t).ok()),
            complete: b.complete,
        }
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
    /// Stable kind name, used in metrics and reports.
    pub fn kind(&self) -> &'static str {
        match self {
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::UnknownSymbol(_) => "unknown-symbol",
            ProviderError::Unsupported(_) => "unsupported",
            ProviderError::BadResponse(_) => "bad-response",
            ProviderError::Transient(_) => "transient",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Timeframe>) {
        assert_eq!(input.parse::<Timeframe>().ok(), expected, "parse {input:?}");
        if let Some(tf) = expected {
            assert_eq!(
                tf.to_string().parse::<Timeframe>().ok(),
                Some(tf),
                "round trip {tf}"
            );
        }
    }

    #[test]
    fn timeframes_parse_and_print() {
        use TimeUnit::*;
        check("1m", Some(Timeframe::new(Minute, 1)));
        check("15m", Some(Timeframe::new(Minute, 15)));
        check("1h", Some(Timeframe::new(Hour, 1)));
        check("1d", Some(Timeframe::new(Day, 1)));
        check("1w", Some(Timeframe::new(Week, 1)));
        check("1mo", Some(Timeframe::new(Month, 1)));
        check("30s", Some(Timeframe::new(Second, 30)));
        check("0m", None);
        check("m", None);
        check("1x", None);
        check("", None);
        assert_eq!(Timeframe::new(Minute, 60).to_string(), "60m");
    }
}
