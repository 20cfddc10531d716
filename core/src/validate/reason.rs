//! Stable codes for why a bar was rejected (hard rules) or flagged (soft rules).
//!
//! The codes are an interface: operators filter on them and the store keeps them, so a code
//! is never renamed, only added.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Timeframe;

/// A hard-rule violation. A bar with at least one is quarantined with all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ReasonCode {
    #[serde(rename = "symbol.unexpected")]
    SymbolUnexpected,
    #[serde(rename = "timeframe.unexpected")]
    TimeframeUnexpected,
    #[serde(rename = "decimal.malformed")]
    DecimalMalformed,
    #[serde(rename = "decimal.out_of_range")]
    DecimalOutOfRange,
    #[serde(rename = "price.not_positive")]
    PriceNotPositive,
    #[serde(rename = "ohlc.low_above_open")]
    LowAboveOpen,
    #[serde(rename = "ohlc.low_above_close")]
    LowAboveClose,
    #[serde(rename = "ohlc.high_below_open")]
    HighBelowOpen,
    #[serde(rename = "ohlc.high_below_close")]
    HighBelowClose,
    #[serde(rename = "volume.negative")]
    VolumeNegative,
    #[serde(rename = "trades.out_of_range")]
    TradesOutOfRange,
    #[serde(rename = "time.misaligned")]
    Misaligned,
    #[serde(rename = "time.in_future")]
    InFuture,
    /// The bar starts outside the range the plugin was asked for.
    #[serde(rename = "range.outside")]
    RangeOutside,
    /// One answer held two different bars for one symbol, timeframe and start: neither
    /// can be trusted over the other.
    #[serde(rename = "key.duplicate")]
    KeyDuplicate,
    /// A split's numerator or denominator is not above zero.
    #[serde(rename = "ratio.not_positive")]
    RatioNotPositive,
    /// A dividend's amount is below zero.
    #[serde(rename = "amount.negative")]
    AmountNegative,
    /// A dividend's currency is not an ISO 4217 code (three capital letters).
    #[serde(rename = "currency.invalid")]
    CurrencyInvalid,
    /// A date no market data has: before 1800, or years ahead of the clock; or a period
    /// that ends before it starts.
    #[serde(rename = "date.implausible")]
    DateImplausible,
    /// A dividend's dates out of their one fixed order: declared after it went ex.
    #[serde(rename = "date.order")]
    DateOrder,
    /// A listed instrument's symbol is not a canonical spelling (`AAPL`, `^GSPC`,
    /// `EUR/USD`), or its provider spelling is empty.
    #[serde(rename = "symbol.not_canonical")]
    SymbolNotCanonical,
    /// An exchange that is not an ISO 10383 MIC (four capital letters or digits).
    #[serde(rename = "exchange.invalid")]
    ExchangeInvalid,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::SymbolUnexpected => "symbol.unexpected",
            ReasonCode::TimeframeUnexpected => "timeframe.unexpected",
            ReasonCode::DecimalMalformed => "decimal.malformed",
            ReasonCode::DecimalOutOfRange => "decimal.out_of_range",
            ReasonCode::PriceNotPositive => "price.not_positive",
            ReasonCode::LowAboveOpen => "ohlc.low_above_open",
            ReasonCode::LowAboveClose => "ohlc.low_above_close",
            ReasonCode::HighBelowOpen => "ohlc.high_below_open",
            ReasonCode::HighBelowClose => "ohlc.high_below_close",
            ReasonCode::VolumeNegative => "volume.negative",
            ReasonCode::TradesOutOfRange => "trades.out_of_range",
            ReasonCode::Misaligned => "time.misaligned",
            ReasonCode::InFuture => "time.in_future",
            ReasonCode::RangeOutside => "range.outside",
            ReasonCode::KeyDuplicate => "key.duplicate",
            ReasonCode::RatioNotPositive => "ratio.not_positive",
            ReasonCode::AmountNegative => "amount.negative",
            ReasonCode::CurrencyInvalid => "currency.invalid",
            ReasonCode::DateImplausible => "date.implausible",
            ReasonCode::DateOrder => "date.order",
            ReasonCode::SymbolNotCanonical => "symbol.not_canonical",
            ReasonCode::ExchangeInvalid => "exchange.invalid",
        }
    }
}

/// One reason with the detail an operator needs to act on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub code: ReasonCode,
    pub detail: String,
}

impl Reason {
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Reason {
            code,
            detail: detail.into(),
        }
    }
}

/// The kind of a quality event: soft-rule findings and what the store notices on write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "volume.zero")]
    ZeroVolume,
    #[serde(rename = "spike.zscore")]
    SpikeZScore,
    #[serde(rename = "spike.max_jump")]
    SpikeMaxJump,
    #[serde(rename = "gap.session")]
    Gap,
    #[serde(rename = "stale")]
    Stale,
    #[serde(rename = "batch.duplicate")]
    DuplicateInBatch,
    /// Written by the store: a closed bar changed at its own source.
    #[serde(rename = "revision")]
    Revision,
    /// Written by the store: another source reports different values for a stored bar.
    #[serde(rename = "disagreement")]
    Disagreement,
    /// A stream's bar broke a hard rule: it is quarantined and its interval recovered
    /// from the provider's REST endpoint instead.
    #[serde(rename = "stream.rejected")]
    StreamRejected,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::ZeroVolume => "volume.zero",
            EventKind::SpikeZScore => "spike.zscore",
            EventKind::SpikeMaxJump => "spike.max_jump",
            EventKind::Gap => "gap.session",
            EventKind::Stale => "stale",
            EventKind::DuplicateInBatch => "batch.duplicate",
            EventKind::Revision => "revision",
            EventKind::Disagreement => "disagreement",
            EventKind::StreamRejected => "stream.rejected",
        }
    }
}

/// A soft-rule finding: the bar (or the range) is stored and this is recorded beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QualityEvent {
    pub kind: EventKind,
    pub symbol: String,
    pub timeframe: Timeframe,
    /// The bar concerned, or the first missing instant of a gap.
    pub start: Option<DateTime<Utc>>,
    /// The exclusive end of a gap or a stale period.
    pub end: Option<DateTime<Utc>>,
    pub detail: String,
}
