//! `[[streams]]`: real-time connections that `mdhost run` keeps open, each with its
//! provider, symbols, timeframe and the resilience settings of the stream runtime.

use std::time::Duration;

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{ConfigError, Lines, Source};
use crate::domain::Timeframe;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStream {
    name: Spanned<String>,
    provider: Spanned<String>,
    #[serde(default)]
    failover: Vec<Spanned<String>>,
    symbols: Spanned<Vec<String>>,
    timeframe: Spanned<String>,
    stale_after: Option<Spanned<String>>,
    heartbeat: Option<Spanned<String>>,
    reconnect_min: Option<Spanned<String>>,
    reconnect_max: Option<Spanned<String>>,
    breaker_after: Option<Spanned<u32>>,
    breaker_cooldown: Option<Spanned<String>>,
    flush_bars: Option<Spanned<u32>>,
    flush_interval: Option<Spanned<String>>,
    late_grace: Option<Spanned<String>>,
    recover: Option<Spanned<bool>>,
    idle_timeout: Option<Spanned<String>>,
    ping_interval: Option<Spanned<String>>,
    required: Option<Spanned<bool>>,
}

/// One validated `[[streams]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    pub name: String,
    /// The plugin that plans and parses the connection (and recovers gaps first).
    pub provider: String,
    /// Providers asked, in order, for a missing interval the stream's own plugin could
    /// not deliver.
    pub failover: Vec<String>,
    pub symbols: Vec<String>,
    pub timeframe: Timeframe,
    /// A symbol with no data for this long during its session raises a stale alert.
    pub stale_after: Duration,
    /// Interval of the heartbeat log line.
    pub heartbeat: Duration,
    /// First reconnect delay; doubled after each failed attempt up to `reconnect_max`.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// Failed connects in a row after which the circuit opens for `breaker_cooldown`.
    pub breaker_after: u32,
    pub breaker_cooldown: Duration,
    /// The write path flushes when this many bars wait…
    pub flush_bars: usize,
    /// …or when the oldest waiting bar has waited this long.
    pub flush_interval: Duration,
    /// How long after an interval's end trades or quotes may still arrive before the
    /// host-built bar is emitted on the clock.
    pub late_grace: Duration,
    /// Fetch missing intervals with `fetch-bars` after a disconnect or a skipped interval.
    pub recover: bool,
    /// A connection that delivers no message for this long is closed and reconnected
    /// (default: one timeframe plus 30 s).
    pub idle_timeout: Duration,
    /// How often the host pings a WebSocket server, so a dead TCP connection shows.
    pub ping_interval: Duration,
    /// While this stream is not connected, `/readyz` says the service is not ready.
    pub required: bool,
}

impl Source<'_> {
    pub(super) fn stream(
        &self,
        s: RawStream,
        lines: &mut Lines,
    ) -> Result<StreamConfig, ConfigError> {
        let name = self.name(&s.name, "streams", "stream")?;
        let k = |field: &str| format!("streams[{name}].{field}");
        if s.symbols.get_ref().is_empty() {
            return self.err(s.symbols.span(), k("symbols"), "the list is empty");
        }
        let timeframe: Timeframe = match s.timeframe.get_ref().parse() {
            Ok(t) => t,
            Err(e) => return self.err(s.timeframe.span(), k("timeframe"), e.to_string()),
        };
        if timeframe.duration().is_none() {
            return self.err(
                s.timeframe.span(),
                k("timeframe"),
                "streams take fixed-length timeframes (seconds to weeks), not months",
            );
        }
        let duration = |v: &Option<Spanned<String>>, field: &str, default: Duration| match v {
            Some(d) => match self.duration(d, k(field), "\"2m\" or \"500ms\"")? {
                x if x.is_zero() => self.err(d.span(), k(field), "must be longer than zero"),
                x => Ok(x),
            },
            None => Ok(default),
        };
        let positive = |v: &Option<Spanned<u32>>, field: &str, default: u32| {
            self.at_least_one(v.as_ref(), k(field))
                .map(|n| n.unwrap_or(default))
        };
        let reconnect_min = duration(&s.reconnect_min, "reconnect_min", Duration::from_secs(1))?;
        let reconnect_max = duration(&s.reconnect_max, "reconnect_max", Duration::from_secs(60))?;
        if reconnect_max < reconnect_min {
            let span = s.reconnect_max.as_ref().map_or(0..0, Spanned::span);
            return self.err(
                span,
                k("reconnect_max"),
                "must not be shorter than reconnect_min",
            );
        }
        let bar = timeframe
            .duration()
            .unwrap_or_default()
            .to_std()
            .unwrap_or_default();
        let idle_timeout = duration(
            &s.idle_timeout,
            "idle_timeout",
            bar + Duration::from_secs(30),
        )?;
        let ping_interval = duration(&s.ping_interval, "ping_interval", Duration::from_secs(20))?;
        Ok(StreamConfig {
            required: s.required.is_some_and(Spanned::into_inner),
            idle_timeout,
            ping_interval,
            stale_after: duration(&s.stale_after, "stale_after", Duration::from_secs(120))?,
            heartbeat: duration(&s.heartbeat, "heartbeat", Duration::from_secs(30))?,
            reconnect_min,
            reconnect_max,
            breaker_after: positive(&s.breaker_after, "breaker_after", 10)?,
            breaker_cooldown: duration(
                &s.breaker_cooldown,
                "breaker_cooldown",
                Duration::from_secs(300),
            )?,
            flush_bars: positive(&s.flush_bars, "flush_bars", 500)? as usize,
            flush_interval: duration(
                &s.flush_interval,
                "flush_interval",
                Duration::from_millis(5),
            )?,
            late_grace: duration(&s.late_grace, "late_grace", Duration::from_secs(2))?,
            recover: s.recover.is_none_or(Spanned::into_inner),
            provider: {
                self.note(
                    lines,
                    k("provider"),
                    s.provider.get_ref(),
                    s.provider.span(),
                );
                s.provider.into_inner()
            },
            failover: s
                .failover
                .into_iter()
                .map(|p| {
                    self.note(lines, k("failover"), p.get_ref(), p.span());
                    p.into_inner()
                })
                .collect(),
            name,
            symbols: s.symbols.into_inner(),
            timeframe,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::Config;
    use super::*;

    fn stream(body: &str) -> String {
        format!("[[streams]]\nname = \"live\"\nprovider = \"binance\"\n{body}")
    }

    fn check(text: &str, expected: Result<(), &str>) {
        let got = Config::parse(text, Path::new("conf/plugins.toml")).map(|_| ());
        match expected {
            Ok(()) => assert!(got.is_ok(), "{text}: {}", got.unwrap_err()),
            Err(want) => assert_eq!(got.unwrap_err().to_string(), want, "{text}"),
        }
    }

    #[test]
    fn streams_are_validated_with_their_line() {
        let ok = "symbols = [\"BTC/USDT\"]\ntimeframe = \"1m\"\n";
        check(&stream(ok), Ok(()));
        check(
            &stream("symbols = []\ntimeframe = \"1m\"\n"),
            Err("conf/plugins.toml:4: streams[live].symbols: the list is empty"),
        );
        check(
            &stream("symbols = [\"X\"]\ntimeframe = \"1mo\"\n"),
            Err(
                "conf/plugins.toml:5: streams[live].timeframe: streams take fixed-length timeframes (seconds to weeks), not months",
            ),
        );
        check(
            &stream(&format!("{ok}stale_after = \"soon\"\n")),
            Err(
                "conf/plugins.toml:6: streams[live].stale_after: expected number at 0; write it like \"2m\" or \"500ms\"",
            ),
        );
        check(
            &stream(&format!(
                "{ok}reconnect_min = \"2s\"\nreconnect_max = \"1s\"\n"
            )),
            Err(
                "conf/plugins.toml:7: streams[live].reconnect_max: must not be shorter than reconnect_min",
            ),
        );
        check(
            &stream(&format!("{ok}flush_bars = 0\n")),
            Err("conf/plugins.toml:6: streams[live].flush_bars: must be at least 1"),
        );
        check(
            &format!("{}\n{}", stream(ok), stream(ok)),
            Err("conf/plugins.toml:7: streams[live]: a stream of this name is already defined"),
        );
        check(
            &stream(&format!("{ok}reconect = true\n")),
            Err(
                "conf/plugins.toml:6: streams.reconect: unknown field `reconect`, expected one of `name`, `provider`, `failover`, `symbols`, `timeframe`, `stale_after`, `heartbeat`, `reconnect_min`, `reconnect_max`, `breaker_after`, `breaker_cooldown`, `flush_bars`, `flush_interval`, `late_grace`, `recover`, `idle_timeout`, `ping_interval`, `required`",
            ),
        );
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = Config::parse(
            &stream("symbols = [\"BTC/USDT\"]\ntimeframe = \"1m\"\n"),
            Path::new("p.toml"),
        )
        .unwrap();
        let s = &c.streams[0];
        assert_eq!(
            (s.stale_after, s.heartbeat, s.reconnect_min, s.reconnect_max),
            (
                Duration::from_secs(120),
                Duration::from_secs(30),
                Duration::from_secs(1),
                Duration::from_secs(60)
            )
        );
        assert_eq!((s.breaker_after, s.flush_bars, s.recover), (10, 500, true));
    }
}
