//! Bars built host-side from trades or quotes, for providers that stream no bars (OANDA
//! prices become mid-price bars). A bar is emitted when its interval closes: when a message
//! of a later interval arrives, or when the clock passes the interval's end plus a grace
//! period for stragglers. A message that arrives after its bar was emitted corrects the
//! bar, which is emitted again (the store records the revision); one older than the few
//! intervals kept is dropped and counted.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::domain::{self, RawBar, RawQuote, RawTrade, Timeframe};

/// Closed intervals kept per symbol so that late messages can still correct them.
const KEPT_CLOSED: usize = 8;

/// One price observation: a trade (with its size) or a quote's mid price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tick {
    time: DateTime<Utc>,
    price: Decimal,
    size: Option<Decimal>,
    trade: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Building {
    first: DateTime<Utc>,
    last: DateTime<Utc>,
    open: Decimal,
    high: Decimal,
    low: Decimal,
    close: Decimal,
    volume: Option<Decimal>,
    trades: Option<u64>,
    /// Emitted once already: a later change is a correction.
    emitted: bool,
}

impl Building {
    fn new(t: Tick) -> Self {
        Building {
            first: t.time,
            last: t.time,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size.filter(|_| t.trade),
            trades: t.trade.then_some(1),
            emitted: false,
        }
    }

    /// Adds a tick; open and close follow message time, not arrival order.
    fn add(&mut self, t: Tick) {
        if t.time < self.first {
            self.first = t.time;
            self.open = t.price;
        }
        if t.time >= self.last {
            self.last = t.time;
            self.close = t.price;
        }
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        if t.trade {
            self.trades = Some(self.trades.unwrap_or(0) + 1);
            if let Some(size) = t.size {
                self.volume = Some(self.volume.unwrap_or_default() + size);
            }
        }
    }
}

/// What one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Aggregated {
    /// Bars closed (or corrected) by this message, complete.
    pub bars: Vec<RawBar>,
    /// The message was older than every interval still kept, so it was dropped.
    pub dropped_late: bool,
}

/// Per-symbol bar building for one stream.
#[derive(Debug)]
pub struct Aggregator {
    timeframe: Timeframe,
    grace: Duration,
    /// Per symbol: interval start → bar; the newest is open, the older ones closed.
    series: HashMap<String, BTreeMap<DateTime<Utc>, Building>>,
}

impl Aggregator {
    /// `grace`: how long after an interval's end messages may still arrive before the bar
    /// is emitted on the clock alone.
    pub fn new(timeframe: Timeframe, grace: std::time::Duration) -> Self {
        Aggregator {
            timeframe,
            grace: Duration::from_std(grace).unwrap_or(Duration::zero()),
            series: HashMap::new(),
        }
    }

    /// A trade print: its price and size go into the bar of its interval.
    pub fn trade(&mut self, t: &RawTrade) -> Result<Aggregated, String> {
        let price = decimal("price", &t.price)?;
        let size = t.size.as_deref().map(|s| decimal("size", s)).transpose()?;
        Ok(self.tick(
            &t.symbol,
            Tick {
                time: t.time,
                price,
                size,
                trade: true,
            },
        ))
    }

    /// A quote: its mid price, (bid + ask) / 2, which is exact in decimal.
    pub fn quote(&mut self, q: &RawQuote) -> Result<Aggregated, String> {
        let bid = decimal("bid", &q.bid)?;
        let ask = decimal("ask", &q.ask)?;
        let mid = (bid + ask) / Decimal::TWO;
        Ok(self.tick(
            &q.symbol,
            Tick {
                time: q.time,
                price: mid,
                size: None,
                trade: false,
            },
        ))
    }

    fn tick(&mut self, symbol: &str, t: Tick) -> Aggregated {
        let mut out = Aggregated::default();
        let Some(start) = self.timeframe.interval_start(t.time) else {
            return out;
        };
        let (timeframe, series) = (
            self.timeframe,
            self.series.entry(symbol.to_owned()).or_default(),
        );
        let emit = |start, b: &mut Building, out: &mut Aggregated| {
            b.emitted = true;
            out.bars.push(bar(timeframe, symbol, start, b));
        };
        let newest = series.keys().next_back().copied();
        let oldest = series.keys().next().copied();
        match series.get_mut(&start) {
            Some(b) => {
                b.add(t);
                // A straggler for a bar already emitted: emit the corrected bar.
                if b.emitted {
                    emit(start, b, &mut out);
                }
            }
            None if newest.is_none_or(|n| start > n) => {
                // A later interval began: the open bar is complete.
                if let Some(b) = newest.and_then(|n| series.get_mut(&n).map(|b| (n, b)))
                    && !b.1.emitted
                {
                    emit(b.0, b.1, &mut out);
                }
                series.insert(start, Building::new(t));
            }
            None if oldest.is_some_and(|oldest| start > oldest) => {
                // An interval that had no message until now, between kept ones.
                let mut b = Building::new(t);
                emit(start, &mut b, &mut out);
                series.insert(start, b);
            }
            None => out.dropped_late = true,
        }
        while series.len() > KEPT_CLOSED + 1 {
            series.pop_first();
        }
        out
    }

    /// Bars whose interval ended at least `grace` before `now` and that were not emitted
    /// yet: quiet markets still get their bar on time.
    pub fn close_due(&mut self, now: DateTime<Utc>) -> Vec<RawBar> {
        let mut out = Vec::new();
        for (symbol, series) in &mut self.series {
            if let Some((&start, b)) = series.iter_mut().next_back()
                && !b.emitted
                && self.timeframe.end_of(start) + self.grace <= now
            {
                b.emitted = true;
                out.push(bar(self.timeframe, symbol, start, b));
            }
        }
        out
    }
}

fn bar(timeframe: Timeframe, symbol: &str, start: DateTime<Utc>, b: &Building) -> RawBar {
    let text = |d: Decimal| domain::raw(d.normalize());
    RawBar {
        symbol: symbol.to_owned(),
        timeframe,
        start,
        open: text(b.open),
        high: text(b.high),
        low: text(b.low),
        close: text(b.close),
        volume: b.volume.map(text),
        vwap: None,
        trades: b.trades,
        complete: true,
    }
}

fn decimal(what: &str, text: &str) -> Result<Decimal, String> {
    crate::validate::parse_decimal(text).map_err(|e| format!("{what} {text:?}: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        format!("2024-03-01T{s}Z").parse().unwrap()
    }

    /// One input: `("trade", "hh:mm:ss", price, size)` or `("quote", time, bid, ask)`, or
    /// `("clock", time, "", "")` to close what is due at that time.
    type Step = (&'static str, &'static str, &'static str, &'static str);

    /// Feeds `steps` to a 1-minute aggregator (grace 2 s) and compares every bar emitted,
    /// in order, as `start o h l c volume trades`, plus the count of dropped messages.
    fn check(steps: &[Step], expected: &[&str], dropped: usize) {
        let mut agg = Aggregator::new("1m".parse().unwrap(), std::time::Duration::from_secs(2));
        let mut got = Vec::new();
        let mut late = 0;
        for &(kind, time, a, b) in steps {
            let bars = match kind {
                "trade" => {
                    let r = agg.trade(&RawTrade {
                        symbol: "X".into(),
                        time: t(time),
                        price: a.into(),
                        size: (!b.is_empty()).then(|| b.into()),
                    });
                    let r = r.unwrap();
                    late += usize::from(r.dropped_late);
                    r.bars
                }
                "quote" => {
                    let r = agg.quote(&RawQuote {
                        symbol: "X".into(),
                        time: t(time),
                        bid: a.into(),
                        ask: b.into(),
                        bid_size: None,
                        ask_size: None,
                    });
                    let r = r.unwrap();
                    late += usize::from(r.dropped_late);
                    r.bars
                }
                "clock" => agg.close_due(t(time)),
                other => panic!("step {other}"),
            };
            for bar in bars {
                assert!(bar.complete);
                got.push(format!(
                    "{} {} {} {} {} {} {}",
                    bar.start.format("%H:%M"),
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.volume.as_ref().map_or("-".into(), ToString::to_string),
                    bar.trades.map_or("-".into(), |n| n.to_string())
                ));
            }
        }
        assert_eq!(got, expected, "bars of {steps:?}");
        assert_eq!(late, dropped, "dropped messages of {steps:?}");
    }

    #[test]
    fn trades_make_bars_when_the_next_interval_begins() {
        check(
            &[
                ("trade", "10:00:01", "10.5", "100"),
                ("trade", "10:00:20", "11", "50"),
                ("trade", "10:00:40", "9.75", "25"),
                ("trade", "10:00:59", "10.25", ""),
                ("trade", "10:01:00", "10.3", "10"),
            ],
            &["10:00 10.5 11 9.75 10.25 175 4"],
            0,
        );
    }

    #[test]
    fn quotes_make_exact_mid_price_bars_without_volume() {
        // OANDA-style quotes: the mid of 1.10005 and 1.10016 is 1.100105, exactly.
        check(
            &[
                ("quote", "10:00:01", "1.10005", "1.10016"),
                ("quote", "10:00:30", "1.1001", "1.1002"),
                ("quote", "10:01:05", "1.1000", "1.1001"),
            ],
            &["10:00 1.100105 1.10015 1.100105 1.10015 - -"],
            0,
        );
    }

    #[test]
    fn a_quiet_interval_closes_on_the_clock_after_the_grace_period() {
        check(
            &[
                ("trade", "10:00:10", "5", "1"),
                ("clock", "10:01:01", "", ""),
                ("clock", "10:01:02", "", ""),
                ("clock", "10:01:03", "", ""),
                // The next interval's first trade does not emit 10:00 a second time.
                ("trade", "10:01:30", "6", "1"),
            ],
            &["10:00 5 5 5 5 1 1"],
            0,
        );
    }

    #[test]
    fn out_of_order_messages_keep_open_and_close_by_time() {
        check(
            &[
                ("trade", "10:00:30", "2", "1"),
                ("trade", "10:00:05", "1", "1"),
                ("trade", "10:00:50", "4", "1"),
                ("trade", "10:00:40", "3", "1"),
                ("trade", "10:01:00", "9", "1"),
            ],
            &["10:00 1 4 1 4 4 4"],
            0,
        );
    }

    #[test]
    fn late_messages_correct_emitted_bars_or_are_dropped_when_too_old() {
        check(
            &[
                ("trade", "10:00:30", "2", "1"),
                ("trade", "10:01:30", "3", "1"),
                // Late for 10:00, which was emitted: the corrected bar is emitted again.
                ("trade", "10:00:59", "1", "2"),
                ("trade", "10:20:00", "4", "1"),
                // Older than every interval kept (the series began at 10:00): dropped.
                ("trade", "09:59:30", "1", "1"),
            ],
            &[
                "10:00 2 2 2 2 1 1",
                "10:00 2 2 1 1 3 2",
                "10:01 3 3 3 3 1 1",
            ],
            1,
        );
    }

    #[test]
    fn intervals_align_to_the_timeframe() {
        let at = |tf: &str, s: &str| {
            tf.parse::<Timeframe>()
                .unwrap()
                .interval_start(s.parse().unwrap())
                .map(|d| d.to_rfc3339())
        };
        assert_eq!(
            at("5m", "2024-03-01T10:07:59.9Z").as_deref(),
            Some("2024-03-01T10:05:00+00:00")
        );
        assert_eq!(
            at("1d", "2024-03-01T23:59:59Z").as_deref(),
            Some("2024-03-01T00:00:00+00:00")
        );
        // 2024-03-01 is a Friday; its week began on Monday 2024-02-26.
        assert_eq!(
            at("1w", "2024-03-01T12:00:00Z").as_deref(),
            Some("2024-02-26T00:00:00+00:00")
        );
        assert_eq!(at("1mo", "2024-03-01T12:00:00Z"), None);
    }

    #[test]
    fn a_bad_price_is_an_error_not_a_bar() {
        let mut agg = Aggregator::new("1m".parse().unwrap(), std::time::Duration::ZERO);
        let q = RawQuote {
            symbol: "X".into(),
            time: t("10:00:00"),
            bid: "1.1e3".into(),
            ask: "1".into(),
            bid_size: None,
            ask_size: None,
        };
        assert!(agg.quote(&q).unwrap_err().contains("bid \"1.1e3\""));
    }
}
