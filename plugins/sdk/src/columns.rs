//! Bars as the contract's columns. A decimal column crosses the boundary as 64-bit
//! integers at one scale when every value fits (the common case: one block of memory
//! instead of a string per value) and as text otherwise, so no value a provider sends
//! loses a digit.

use crate::bindings::exports::mdhost::provider::streaming as ws;
use crate::bindings::mdhost::provider::types::{
    Adjustment, BarSeries, Decimals, ScaledDecimals, SparseCounts, SparseDecimals,
};
use crate::{Bar, Event, RawDecimal};

/// Builds one decimal column.
#[derive(Default)]
pub struct DecimalColumn {
    /// While every value fits: mantissas with their own scales.
    scaled: Vec<(i64, u8)>,
    /// Once one value did not fit: every value as text.
    text: Option<Vec<String>>,
}

impl DecimalColumn {
    pub fn with_capacity(rows: usize) -> Self {
        DecimalColumn {
            scaled: Vec::with_capacity(rows),
            text: None,
        }
    }

    pub fn push(&mut self, value: &RawDecimal) {
        if cfg!(feature = "text-columns") && self.text.is_none() {
            self.text = Some(Vec::new());
        }
        if let Some(t) = self.text.as_mut() {
            t.push(value.to_text().into_owned());
            return;
        }
        match value.as_scaled() {
            Some(v) => self.scaled.push(v),
            None => {
                let mut t = self.as_text();
                t.push(value.to_text().into_owned());
                self.text = Some(t);
            }
        }
    }

    fn as_text(&mut self) -> Vec<String> {
        std::mem::take(&mut self.scaled)
            .into_iter()
            .map(|(m, s)| mdhost_model::scaled::text(m, s))
            .collect()
    }

    /// The column: scaled at the largest scale of its values when every value still fits
    /// there, text otherwise.
    pub fn finish(mut self) -> Decimals {
        if let Some(t) = self.text {
            return Decimals::Text(t);
        }
        let scale = self.scaled.iter().map(|(_, s)| *s).max().unwrap_or(0);
        let rescaled: Option<Vec<i64>> = self
            .scaled
            .iter()
            .map(|&(m, s)| 10i64.checked_pow(u32::from(scale - s))?.checked_mul(m))
            .collect();
        match rescaled {
            Some(mantissas) => Decimals::Scaled(ScaledDecimals { scale, mantissas }),
            None => Decimals::Text(self.as_text()),
        }
    }
}

/// A column some rows of which may lack a value.
#[derive(Default)]
struct SparseColumn {
    values: DecimalColumn,
    absent: Vec<u32>,
    any: bool,
}

impl SparseColumn {
    fn push(&mut self, row: usize, value: Option<&RawDecimal>) {
        match value {
            Some(v) => {
                self.values.push(v);
                self.any = true;
            }
            None => {
                self.values.push(&RawDecimal::scaled(0, 0));
                self.absent.push(row as u32);
            }
        }
    }

    fn finish(self) -> SparseDecimals {
        if !self.any {
            return SparseDecimals {
                values: Decimals::Scaled(ScaledDecimals {
                    scale: 0,
                    mantissas: Vec::new(),
                }),
                absent: Vec::new(),
            };
        }
        SparseDecimals {
            values: self.values.finish(),
            absent: self.absent,
        }
    }
}

/// One series' rows, in order.
fn one_series(rows: &[Bar]) -> BarSeries {
    let n = rows.len();
    let (mut open, mut high, mut low, mut close) = (
        DecimalColumn::with_capacity(n),
        DecimalColumn::with_capacity(n),
        DecimalColumn::with_capacity(n),
        DecimalColumn::with_capacity(n),
    );
    let (mut volume, mut vwap) = (SparseColumn::default(), SparseColumn::default());
    let mut trades = SparseCounts {
        values: Vec::with_capacity(n),
        absent: Vec::new(),
    };
    let mut starts = Vec::with_capacity(n);
    let mut complete = Vec::with_capacity(n);
    for (row, b) in rows.iter().enumerate() {
        starts.push(b.start);
        open.push(&b.open);
        high.push(&b.high);
        low.push(&b.low);
        close.push(&b.close);
        volume.push(row, b.volume.as_ref());
        vwap.push(row, b.vwap.as_ref());
        match b.trades {
            Some(t) => trades.values.push(t),
            None => {
                trades.values.push(0);
                trades.absent.push(row as u32);
            }
        }
        complete.push(b.complete);
    }
    if trades.absent.len() == n {
        trades = SparseCounts {
            values: Vec::new(),
            absent: Vec::new(),
        };
    }
    BarSeries {
        symbol: rows.first().map(|b| b.symbol.clone()).unwrap_or_default(),
        timeframe: rows
            .first()
            .map(|b| b.timeframe)
            .unwrap_or(crate::Timeframe::of(crate::TimeUnit::Day, 1)),
        adjustment: Adjustment::Raw,
        starts,
        open: open.finish(),
        high: high.finish(),
        low: low.finish(),
        close: close.finish(),
        volume: volume.finish(),
        vwap: vwap.finish(),
        trades,
        complete,
    }
}

/// Rows as series: one per run of rows of the same symbol and timeframe, in row order.
pub fn series(rows: Vec<Bar>) -> Vec<BarSeries> {
    let mut out = Vec::new();
    let mut begin = 0;
    for i in 1..=rows.len() {
        let boundary = i == rows.len()
            || rows[i].symbol != rows[begin].symbol
            || rows[i].timeframe != rows[begin].timeframe;
        if boundary {
            out.push(one_series(&rows[begin..i]));
            begin = i;
        }
    }
    out
}

/// Stream events with bars as series: consecutive bars of one symbol and timeframe go
/// as one `bars` event.
pub fn events(list: Vec<Event>) -> Vec<ws::Event> {
    let mut out = Vec::with_capacity(list.len());
    let mut pending: Vec<Bar> = Vec::new();
    let flush = |pending: &mut Vec<Bar>, out: &mut Vec<ws::Event>| {
        if !pending.is_empty() {
            out.extend(
                series(std::mem::take(pending))
                    .into_iter()
                    .map(ws::Event::Bars),
            );
        }
    };
    for e in list {
        let other = match e {
            Event::Bar(b) => {
                pending.push(b);
                continue;
            }
            Event::Quote(q) => ws::Event::Quote(q),
            Event::Trade(t) => ws::Event::Trade(t),
            Event::Reply(r) => ws::Event::Reply(r),
            Event::Heartbeat => ws::Event::Heartbeat,
            Event::Status(s) => ws::Event::Status(s),
            Event::Error(e) => ws::Event::Error(e),
        };
        flush(&mut pending, &mut out);
        out.push(other);
    }
    flush(&mut pending, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{TimeUnit, Timeframe};

    fn column(values: &[&str]) -> Decimals {
        let mut c = DecimalColumn::default();
        for v in values {
            c.push(&RawDecimal::from(*v));
        }
        c.finish()
    }

    #[test]
    fn a_column_is_scaled_when_every_value_fits_and_text_otherwise() {
        assert_eq!(
            column(&["189.8", "190.125", "7"]),
            Decimals::Scaled(ScaledDecimals {
                scale: 3,
                mantissas: vec![189800, 190125, 7000]
            })
        );
        // 10^15 shares with 8 decimals do not fit 64 bits: the whole column goes as text,
        // every value with its own digits.
        assert_eq!(
            column(&["1.5", "1000000000000000.12345678", "2.25"]),
            Decimals::Text(vec![
                "1.5".into(),
                "1000000000000000.12345678".into(),
                "2.25".into()
            ])
        );
        // Each value fits alone but not at the column's common scale.
        assert_eq!(
            column(&["922337203685477581", "0.01"]),
            Decimals::Text(vec!["922337203685477581".into(), "0.01".into()])
        );
        // Text the host must judge (and quarantine) passes through untouched.
        assert_eq!(
            column(&["1.5", "NaN"]),
            Decimals::Text(vec!["1.5".into(), "NaN".into()])
        );
    }

    fn bar(symbol: &str, start: i64, volume: Option<&str>) -> Bar {
        Bar {
            symbol: symbol.into(),
            timeframe: Timeframe::of(TimeUnit::Minute, 1),
            start,
            open: "1.5".into(),
            high: "2".into(),
            low: "1".into(),
            close: "1.75".into(),
            volume: volume.map(Into::into),
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    #[test]
    fn rows_become_one_series_per_run_of_a_symbol() {
        let s = series(vec![
            bar("A", 0, Some("10")),
            bar("A", 60, None),
            bar("B", 0, Some("5")),
        ]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].symbol, "A");
        assert_eq!(s[0].starts, vec![0, 60]);
        assert_eq!(s[0].volume.absent, vec![1]);
        assert_eq!(
            s[0].close,
            Decimals::Scaled(ScaledDecimals {
                scale: 2,
                mantissas: vec![175, 175]
            })
        );
        // No row has a vwap or a trade count: those columns are empty.
        assert_eq!(s[0].vwap.absent, Vec::<u32>::new());
        assert!(s[0].trades.values.is_empty());
        assert_eq!(s[1].symbol, "B");
        assert!(series(vec![]).is_empty());
    }

    #[test]
    fn stream_bars_are_grouped_between_other_events() {
        let got = events(vec![
            Event::Bar(bar("A", 0, None)),
            Event::Bar(bar("A", 60, None)),
            Event::Heartbeat,
            Event::Bar(bar("B", 0, None)),
        ]);
        assert_eq!(got.len(), 3);
        assert!(matches!(&got[0], ws::Event::Bars(s) if s.starts.len() == 2));
        assert_eq!(got[1], ws::Event::Heartbeat);
        assert!(matches!(&got[2], ws::Event::Bars(s) if s.symbol == "B"));
    }
}
