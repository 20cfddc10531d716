//! The WIT boundary: conversions between generated bindings and domain types, and the
//! checks that make plugin output trustworthy for the rest of the host. Nothing outside
//! this file reads a binding type's fields.

use chrono::{DateTime, TimeZone, Utc};

use super::bindings::exports::mdhost::provider::provider as wit;
use super::bindings::exports::mdhost::provider::streaming as ws;
use super::bindings::mdhost::provider::types as wt;
use mdhost_core::domain::{
    AssetClass, BarsPage, BarsRequest, ProviderError, ProviderInfo, RateLimit, RawBar, RawQuote,
    RawTrade, StreamEvent, StreamPlan, StreamTransport, TimeUnit, Timeframe,
};

/// Plugin output that breaks the contract itself (as opposed to data validation, which
/// is the validator's job): the call is failed with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("plugin output breaks the contract: {0}")]
pub struct ContractError(pub String);

fn instant(ns: i64) -> DateTime<Utc> {
    Utc.timestamp_nanos(ns)
}

fn nanos(t: DateTime<Utc>) -> Result<i64, ContractError> {
    t.timestamp_nanos_opt()
        .ok_or_else(|| ContractError(format!("time {t} is outside the range of a WIT timestamp")))
}

impl From<wt::TimeUnit> for TimeUnit {
    fn from(u: wt::TimeUnit) -> Self {
        match u {
            wt::TimeUnit::Second => TimeUnit::Second,
            wt::TimeUnit::Minute => TimeUnit::Minute,
            wt::TimeUnit::Hour => TimeUnit::Hour,
            wt::TimeUnit::Day => TimeUnit::Day,
            wt::TimeUnit::Week => TimeUnit::Week,
            wt::TimeUnit::Month => TimeUnit::Month,
        }
    }
}

impl From<TimeUnit> for wt::TimeUnit {
    fn from(u: TimeUnit) -> Self {
        match u {
            TimeUnit::Second => wt::TimeUnit::Second,
            TimeUnit::Minute => wt::TimeUnit::Minute,
            TimeUnit::Hour => wt::TimeUnit::Hour,
            TimeUnit::Day => wt::TimeUnit::Day,
            TimeUnit::Week => wt::TimeUnit::Week,
            TimeUnit::Month => wt::TimeUnit::Month,
        }
    }
}

impl TryFrom<wt::Timeframe> for Timeframe {
    type Error = ContractError;
    fn try_from(t: wt::Timeframe) -> Result<Self, ContractError> {
        if t.count == 0 {
            return Err(ContractError("timeframe count is 0".into()));
        }
        Ok(Timeframe::new(t.unit.into(), t.count))
    }
}

impl From<Timeframe> for wt::Timeframe {
    fn from(t: Timeframe) -> Self {
        wt::Timeframe {
            unit: t.unit.into(),
            count: t.count,
        }
    }
}

impl From<wt::AssetClass> for AssetClass {
    fn from(a: wt::AssetClass) -> Self {
        match a {
            wt::AssetClass::Equity => AssetClass::Equity,
            wt::AssetClass::Etf => AssetClass::Etf,
            wt::AssetClass::Index => AssetClass::Index,
            wt::AssetClass::Forex => AssetClass::Forex,
            wt::AssetClass::Crypto => AssetClass::Crypto,
            wt::AssetClass::Commodity => AssetClass::Commodity,
            wt::AssetClass::Economic => AssetClass::Economic,
        }
    }
}

impl From<wt::ProviderError> for ProviderError {
    fn from(e: wt::ProviderError) -> Self {
        match e {
            wt::ProviderError::RateLimited(s) => ProviderError::RateLimited(s),
            wt::ProviderError::Unauthorized(m) => ProviderError::Unauthorized(m),
            wt::ProviderError::UnknownSymbol(s) => ProviderError::UnknownSymbol(s),
            wt::ProviderError::Unsupported(m) => ProviderError::Unsupported(m),
            wt::ProviderError::BadResponse(m) => ProviderError::BadResponse(m),
            wt::ProviderError::Transient(m) => ProviderError::Transient(m),
        }
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

/// The most `describe` may say: its answer is logged with every call and stored with
/// every bar (the version), so each field is small and each list short.
pub mod describe_limits {
    pub const VERSION: usize = 64;
    pub const DESCRIPTION: usize = 1024;
    pub const LIST: usize = 64;
    pub const HOST: usize = 253;
    pub const SECRET_NAME: usize = 64;
}

/// Refuses a `describe` answer any field of which is over its limit.
fn within_describe_limits(i: &wit::Info) -> Result<(), ContractError> {
    use describe_limits as l;
    let too_long = |what: &str, len: usize, max: usize| {
        ContractError(format!(
            "plugin {:?}: {what} is {len} bytes; at most {max} are allowed",
            mdhost_core::text::clip(&i.name, 64)
        ))
    };
    let too_many = |what: &str, n: usize| {
        ContractError(format!(
            "plugin {:?}: {n} {what}; at most {} are allowed",
            mdhost_core::text::clip(&i.name, 64),
            l::LIST
        ))
    };
    if i.version.len() > l::VERSION {
        return Err(too_long("version", i.version.len(), l::VERSION));
    }
    if i.description.len() > l::DESCRIPTION {
        return Err(too_long("description", i.description.len(), l::DESCRIPTION));
    }
    for (what, n) in [
        ("asset classes", i.asset_classes.len()),
        ("timeframes", i.timeframes.len()),
        ("allowed hosts", i.allowed_hosts.len()),
        ("secrets", i.secrets.len()),
    ] {
        if n > l::LIST {
            return Err(too_many(what, n));
        }
    }
    if let Some(h) = i.allowed_hosts.iter().find(|h| h.len() > l::HOST) {
        return Err(too_long("an allowed host", h.len(), l::HOST));
    }
    if let Some(s) = i.secrets.iter().find(|s| s.len() > l::SECRET_NAME) {
        return Err(too_long("a secret name", s.len(), l::SECRET_NAME));
    }
    Ok(())
}

impl TryFrom<wit::Info> for ProviderInfo {
    type Error = ContractError;
    fn try_from(i: wit::Info) -> Result<Self, ContractError> {
        if !valid_name(&i.name) {
            return Err(ContractError(format!(
                "plugin name {:?} must be 1-64 lowercase ASCII letters, digits or '-'",
                mdhost_core::text::clip(&i.name, 64)
            )));
        }
        within_describe_limits(&i)?;
        // The version goes into every log line and every stored bar: one printable word.
        if i.version.is_empty() || !i.version.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ContractError(format!(
                "plugin {:?} has version {:?}: it must be printable ASCII without spaces, such as \"1.2.0\"",
                i.name, i.version
            )));
        }
        if i.max_symbols_per_request == 0 {
            return Err(ContractError(
                "max-symbols-per-request must be at least 1".into(),
            ));
        }
        if i.default_rate_limit.requests == 0 || i.default_rate_limit.per_seconds == 0 {
            return Err(ContractError("default-rate-limit must be positive".into()));
        }
        for h in &i.allowed_hosts {
            crate::capabilities::grant::HostPattern::parse(h)
                .map_err(|e| ContractError(format!("allowed-hosts: {e}")))?;
        }
        Ok(ProviderInfo {
            name: i.name,
            version: i.version,
            description: i.description,
            asset_classes: i.asset_classes.into_iter().map(Into::into).collect(),
            timeframes: i
                .timeframes
                .into_iter()
                .map(Timeframe::try_from)
                .collect::<Result<_, _>>()?,
            allowed_hosts: i.allowed_hosts,
            secrets: i.secrets,
            default_rate_limit: RateLimit {
                requests: i.default_rate_limit.requests,
                per_seconds: i.default_rate_limit.per_seconds,
            },
            max_symbols_per_request: i.max_symbols_per_request,
            streaming: i.streaming,
        })
    }
}

impl TryFrom<&BarsRequest> for wit::BarsRequest {
    type Error = ContractError;
    fn try_from(r: &BarsRequest) -> Result<Self, ContractError> {
        Ok(wit::BarsRequest {
            symbols: r.symbols.clone(),
            timeframe: r.timeframe.into(),
            start: nanos(r.start)?,
            end: nanos(r.end)?,
            cursor: r.cursor.clone(),
        })
    }
}

impl From<wt::Bar> for RawBar {
    fn from(b: wt::Bar) -> Self {
        RawBar {
            symbol: b.symbol,
            // A zero count is a data error the validator reports; keep it visible as 0.
            timeframe: Timeframe::new(b.timeframe.unit.into(), b.timeframe.count),
            start: instant(b.start),
            open: b.open,
            high: b.high,
            low: b.low,
            close: b.close,
            volume: b.volume,
            vwap: b.vwap,
            trades: b.trades,
            complete: b.complete,
        }
    }
}

impl From<wit::BarsPage> for BarsPage {
    fn from(p: wit::BarsPage) -> Self {
        BarsPage {
            bars: p.bars.into_iter().map(Into::into).collect(),
            next_cursor: p.next_cursor,
        }
    }
}

impl From<ws::Plan> for StreamPlan {
    fn from(p: ws::Plan) -> Self {
        StreamPlan {
            transport: match p.transport {
                ws::Transport::Websocket => StreamTransport::Websocket,
                ws::Transport::HttpLines => StreamTransport::HttpLines,
            },
            url: p.url,
            headers: p.headers,
            on_open: p.on_open,
        }
    }
}

impl From<ws::Event> for StreamEvent {
    fn from(e: ws::Event) -> Self {
        match e {
            ws::Event::Bar(b) => StreamEvent::Bar(b.into()),
            ws::Event::Quote(q) => StreamEvent::Quote(RawQuote {
                symbol: q.symbol,
                time: instant(q.time),
                bid: q.bid,
                ask: q.ask,
                bid_size: q.bid_size,
                ask_size: q.ask_size,
            }),
            ws::Event::Trade(t) => StreamEvent::Trade(RawTrade {
                symbol: t.symbol,
                time: instant(t.time),
                price: t.price,
                size: t.size,
            }),
            ws::Event::Reply(text) => StreamEvent::Reply(text),
            ws::Event::Heartbeat => StreamEvent::Heartbeat,
            ws::Event::Status(text) => StreamEvent::Status(text),
            ws::Event::Error(e) => StreamEvent::Error(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, hosts: &[&str]) -> wit::Info {
        wit::Info {
            name: name.into(),
            version: "1.0.0".into(),
            description: String::new(),
            asset_classes: vec![wt::AssetClass::Equity],
            timeframes: vec![wt::Timeframe {
                unit: wt::TimeUnit::Day,
                count: 1,
            }],
            allowed_hosts: hosts.iter().map(|h| (*h).into()).collect(),
            secrets: vec![],
            default_rate_limit: wit::RateLimit {
                requests: 1,
                per_seconds: 1,
            },
            max_symbols_per_request: 1,
            streaming: false,
        }
    }

    fn check(i: wit::Info, ok: bool) {
        let name = i.name.clone();
        assert_eq!(ProviderInfo::try_from(i).is_ok(), ok, "info {name:?}");
    }

    #[test]
    fn describe_output_is_checked_at_the_boundary() {
        check(info("yahoo", &["query1.finance.yahoo.com"]), true);
        check(info("my-plugin2", &["*.example.com"]), true);
        check(info("Yahoo", &[]), false);
        check(info("", &[]), false);
        check(info("a b", &[]), false);
        check(info("ok", &["https://x.com/path"]), false);
        let mut zero = info("ok", &[]);
        zero.max_symbols_per_request = 0;
        check(zero, false);
    }
}
