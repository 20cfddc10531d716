//! Contract 0.2.0 (`wit/0.2.0`): its bindings, its imports served by the host's
//! capabilities, and its types converted to and from the domain's — bar columns turned
//! into rows, with every column's length checked here. Nothing outside this module knows
//! the 0.2 generated types.

use wasmtime::Store;
use wasmtime::component::{HasSelf, Linker};

use super::Answer;
use super::check::{ContractError, instant};
use crate::state::CallState;
use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use mdhost_core::domain::{
    ActionsPage, ActionsRequest, Adjustment, AssetClass, BarsPage, DataKind, DividendKind,
    Instrument, InstrumentsPage, InstrumentsRequest, OptionKind, OptionSpec, OptionValue,
    ProviderError, ProviderInfo, Quota, QuotaPeriod, RawBar, RawDecimal, RawDividend,
    RawObservation, RawSplit, SeriesMeta, SeriesPage, SeriesRequest, StreamEvent, Timeframe,
    Vintage,
};

wasmtime::component::bindgen!({
    path: "../wit/0.2.0",
    world: "provider-plugin",
    imports: { default: async },
    exports: { default: async },
});

use exports::mdhost::provider::provider as wit;
use exports::mdhost::provider::streaming as ws;
use mdhost::provider::types as wt;

super::glue::shared_glue!();

impl mdhost::provider::options::Host for CallState {
    async fn get(&mut self, name: String) -> Option<wt::OptionValue> {
        self.caps.options.get(&name).map(|v| match v {
            OptionValue::Flag(b) => wt::OptionValue::Flag(*b),
            OptionValue::Integer(i) => wt::OptionValue::Integer(*i),
            OptionValue::Text(t) => wt::OptionValue::Text(t.clone()),
        })
    }
}

pub async fn on_message(
    b: &ProviderPlugin,
    store: &mut Store<CallState>,
    message: &[u8],
) -> wasmtime::Result<Answer<Vec<StreamEvent>>> {
    let events = b
        .mdhost_provider_streaming()
        .call_on_message(store, message)
        .await?;
    Ok(match events {
        Ok(list) => {
            let mut out = Vec::with_capacity(list.len());
            for e in list {
                match events_of(e, &mut out) {
                    Ok(()) => {}
                    Err(c) => return Ok(Err(c)),
                }
            }
            Ok(Ok(out))
        }
        Err(e) => Ok(Err(error(e))),
    })
}

fn error(e: wt::ProviderError) -> ProviderError {
    match e {
        wt::ProviderError::RateLimited(s) => ProviderError::RateLimited(s),
        wt::ProviderError::QuotaExhausted(t) => ProviderError::QuotaExhausted(t.map(instant)),
        wt::ProviderError::Unauthorized(m) => ProviderError::Unauthorized(m),
        wt::ProviderError::UnknownSymbol(s) => ProviderError::UnknownSymbol(s),
        wt::ProviderError::Unsupported(m) => ProviderError::Unsupported(m),
        wt::ProviderError::BadResponse(m) => ProviderError::BadResponse(m),
        wt::ProviderError::Transient(m) => ProviderError::Transient(m),
    }
}

pub async fn fetch_actions(
    b: &ProviderPlugin,
    store: &mut Store<CallState>,
    req: &ActionsRequest,
) -> wasmtime::Result<super::Answer<ActionsPage>> {
    let wire = wit::ActionsRequest {
        symbols: req.symbols.clone(),
        start: wire_date(req.start),
        end: wire_date(req.end),
        cursor: req.cursor.clone(),
    };
    let page = b
        .mdhost_provider_provider()
        .call_fetch_actions(store, &wire)
        .await?;
    Ok(match page {
        Ok(p) => actions_of(p).map(Ok),
        Err(e) => Ok(Err(error(e))),
    })
}

pub async fn fetch_series(
    b: &ProviderPlugin,
    store: &mut Store<CallState>,
    req: &SeriesRequest,
) -> wasmtime::Result<super::Answer<SeriesPage>> {
    let wire = wit::SeriesRequest {
        series_id: req.series_id.clone(),
        start: wire_date(req.start),
        end: wire_date(req.end),
        vintage: match req.vintage {
            Vintage::Latest => wit::Vintage::Latest,
            Vintage::AsOf(d) => wit::Vintage::AsOf(wire_date(d)),
            Vintage::All => wit::Vintage::All,
        },
        cursor: req.cursor.clone(),
    };
    let page = b
        .mdhost_provider_provider()
        .call_fetch_series(store, &wire)
        .await?;
    Ok(match page {
        Ok(p) => series_of(p).map(Ok),
        Err(e) => Ok(Err(error(e))),
    })
}

fn series_of(p: wit::SeriesPage) -> Result<SeriesPage, ContractError> {
    let observations = p
        .observations
        .into_iter()
        .map(|o| {
            Ok(RawObservation {
                date: date(o.date)?,
                value: o.value,
                realtime_start: opt_date(o.realtime_start)?,
                realtime_end: opt_date(o.realtime_end)?,
            })
        })
        .collect::<Result<_, ContractError>>()?;
    Ok(SeriesPage {
        series_id: p.series_id,
        meta: p.meta.map(|m| SeriesMeta {
            title: m.title,
            units: m.units,
            frequency: m.frequency,
            seasonal_adjustment: m.seasonal_adjustment,
            last_updated: m.last_updated.map(instant),
        }),
        observations,
        next_cursor: p.next_cursor,
    })
}

pub async fn fetch_instruments(
    b: &ProviderPlugin,
    store: &mut Store<CallState>,
    req: &InstrumentsRequest,
) -> wasmtime::Result<super::Answer<InstrumentsPage>> {
    let wire = wit::InstrumentsRequest {
        asset_class: req.asset_class.map(wire_asset_class),
        cursor: req.cursor.clone(),
    };
    let page = b
        .mdhost_provider_provider()
        .call_fetch_instruments(store, &wire)
        .await?;
    Ok(match page {
        Ok(p) => instruments_of(p).map(Ok),
        Err(e) => Ok(Err(error(e))),
    })
}

fn wire_asset_class(a: AssetClass) -> wt::AssetClass {
    match a {
        AssetClass::Equity => wt::AssetClass::Equity,
        AssetClass::Etf => wt::AssetClass::Etf,
        AssetClass::Index => wt::AssetClass::Index,
        AssetClass::Forex => wt::AssetClass::Forex,
        AssetClass::Crypto => wt::AssetClass::Crypto,
        AssetClass::Commodity => wt::AssetClass::Commodity,
        AssetClass::Economic => wt::AssetClass::Economic,
    }
}

fn instruments_of(p: wit::InstrumentsPage) -> Result<InstrumentsPage, ContractError> {
    let instruments = p
        .instruments
        .into_iter()
        .map(|i| {
            Ok(Instrument {
                symbol: i.symbol,
                provider_symbol: i.provider_symbol,
                name: i.name,
                asset_class: asset_class(i.asset_class),
                exchange: i.exchange,
                currency: i.currency,
                active: i.active,
                listed: opt_date(i.listed)?,
                delisted: opt_date(i.delisted)?,
            })
        })
        .collect::<Result<_, ContractError>>()?;
    Ok(InstrumentsPage {
        instruments,
        next_cursor: p.next_cursor,
    })
}

fn wire_date(d: NaiveDate) -> wt::Date {
    wt::Date {
        year: d.year(),
        month: d.month() as u8,
        day: d.day() as u8,
    }
}

/// A WIT date as a calendar date; one that does not exist breaks the contract.
fn date(d: wt::Date) -> Result<NaiveDate, ContractError> {
    NaiveDate::from_ymd_opt(d.year, u32::from(d.month), u32::from(d.day)).ok_or_else(|| {
        ContractError(format!(
            "date {}-{:02}-{:02} does not exist",
            d.year, d.month, d.day
        ))
    })
}

fn opt_date(d: Option<wt::Date>) -> Result<Option<NaiveDate>, ContractError> {
    d.map(date).transpose()
}

fn actions_of(p: wit::ActionsPage) -> Result<ActionsPage, ContractError> {
    let splits = p
        .splits
        .into_iter()
        .map(|s| {
            Ok(RawSplit {
                symbol: s.symbol,
                ex_date: date(s.ex_date)?,
                numerator: s.numerator,
                denominator: s.denominator,
                provider_id: s.provider_id,
            })
        })
        .collect::<Result<_, ContractError>>()?;
    let dividends = p
        .dividends
        .into_iter()
        .map(|d| {
            Ok(RawDividend {
                symbol: d.symbol,
                ex_date: date(d.ex_date)?,
                amount: d.amount,
                currency: d.currency,
                kind: match d.kind {
                    wit::DividendKind::Regular => DividendKind::Regular,
                    wit::DividendKind::Special => DividendKind::Special,
                    wit::DividendKind::CapitalGains => DividendKind::CapitalGains,
                    wit::DividendKind::ReturnOfCapital => DividendKind::ReturnOfCapital,
                    wit::DividendKind::Other => DividendKind::Other,
                },
                declared_date: opt_date(d.declared_date)?,
                record_date: opt_date(d.record_date)?,
                pay_date: opt_date(d.pay_date)?,
                provider_id: d.provider_id,
            })
        })
        .collect::<Result<_, ContractError>>()?;
    Ok(ActionsPage {
        splits,
        dividends,
        next_cursor: p.next_cursor,
    })
}

fn option_value(v: wt::OptionValue) -> OptionValue {
    match v {
        wt::OptionValue::Flag(b) => OptionValue::Flag(b),
        wt::OptionValue::Integer(i) => OptionValue::Integer(i),
        wt::OptionValue::Text(t) => OptionValue::Text(t),
    }
}

fn option_spec(o: wit::OptionSpec) -> OptionSpec {
    OptionSpec {
        name: o.name,
        description: o.description,
        kind: match o.kind {
            wit::OptionKind::Flag => OptionKind::Flag,
            wit::OptionKind::Integer((min, max)) => OptionKind::Integer { min, max },
            wit::OptionKind::Text => OptionKind::Text,
            wit::OptionKind::Choice(words) => OptionKind::Choice { words },
        },
        default: option_value(o.default),
    }
}

fn info(i: wit::Info) -> Result<ProviderInfo, ContractError> {
    let kinds = i
        .kinds
        .iter()
        .map(|k| match k {
            wit::DataKind::Bars => DataKind::Bars,
            wit::DataKind::CorporateActions => DataKind::CorporateActions,
            wit::DataKind::EconomicSeries => DataKind::EconomicSeries,
            wit::DataKind::Instruments => DataKind::Instruments,
        })
        .collect();
    let default_quotas = i
        .default_quotas
        .iter()
        .map(|q| Quota {
            requests: q.requests,
            period: match q.period {
                wit::QuotaPeriod::Day => QuotaPeriod::Day,
                wit::QuotaPeriod::Month => QuotaPeriod::Month,
            },
        })
        .collect();
    let options = i.options.into_iter().map(option_spec).collect();
    Ok(ProviderInfo {
        kinds,
        default_quotas,
        options,
        ..super::glue::info_fields!(i)
    })
}

/// `mantissa × 10^-scale` without trailing fraction zeros: a column's common scale pads its
/// shorter values ("1.469" goes as 14690 at scale 4), and the padding is the column's, not
/// the provider's. ("1.4690" and "1.469" are one value to the validator either way; only
/// text columns can hold what it refuses.)
fn unpadded(mantissa: i64, scale: u8) -> RawDecimal {
    let (m, s) = scaled::trimmed(mantissa, scale);
    RawDecimal::scaled(m, s)
}

use mdhost_core::scaled::{self, MAX_SCALE};

/// A column's values, exactly `rows` of them: scaled values stay digits (no text is made
/// for them), text values are read as written.
fn column(d: wt::Decimals, rows: usize, what: &str) -> Result<Vec<RawDecimal>, ContractError> {
    let values = match d {
        wt::Decimals::Scaled(s) => {
            if s.scale > MAX_SCALE {
                return Err(ContractError(format!(
                    "column {what} has scale {}; at most {MAX_SCALE}",
                    s.scale
                )));
            }
            s.mantissas
                .into_iter()
                .map(|m| unpadded(m, s.scale))
                .collect::<Vec<_>>()
        }
        wt::Decimals::Text(t) => t.into_iter().map(RawDecimal::text).collect(),
    };
    if values.len() != rows {
        return Err(ContractError(format!(
            "column {what} has {} values for {rows} bars",
            values.len()
        )));
    }
    Ok(values)
}

/// Checks a sparse column's `absent` list: ascending row numbers below `rows`.
fn absent_rows(absent: &[u32], rows: usize, what: &str) -> Result<(), ContractError> {
    let ascending = absent.windows(2).all(|w| w[0] < w[1]);
    if !ascending || absent.last().is_some_and(|&r| r as usize >= rows) {
        return Err(ContractError(format!(
            "column {what}: `absent` must list distinct rows below {rows} in ascending order"
        )));
    }
    Ok(())
}

/// Puts `None` in the rows `absent` names.
fn blank<T>(values: Vec<T>, absent: &[u32]) -> Vec<Option<T>> {
    let mut out: Vec<Option<T>> = values.into_iter().map(Some).collect();
    for &row in absent {
        out[row as usize] = None;
    }
    out
}

fn sparse(
    d: wt::SparseDecimals,
    rows: usize,
    what: &str,
) -> Result<Vec<Option<RawDecimal>>, ContractError> {
    let empty = match &d.values {
        wt::Decimals::Scaled(s) => s.mantissas.is_empty(),
        wt::Decimals::Text(t) => t.is_empty(),
    };
    if empty {
        return Ok(vec![None; rows]);
    }
    absent_rows(&d.absent, rows, what)?;
    Ok(blank(column(d.values, rows, what)?, &d.absent))
}

fn counts(c: wt::SparseCounts, rows: usize) -> Result<Vec<Option<u64>>, ContractError> {
    if c.values.is_empty() {
        return Ok(vec![None; rows]);
    }
    if c.values.len() != rows {
        return Err(ContractError(format!(
            "column trades has {} values for {rows} bars",
            c.values.len()
        )));
    }
    absent_rows(&c.absent, rows, "trades")?;
    Ok(blank(c.values, &c.absent))
}

/// A series' columns as rows, each column's length checked against `starts`.
fn series_rows(s: wt::BarSeries, out: &mut Vec<RawBar>) -> Result<(), ContractError> {
    let rows = s.starts.len();
    // A zero count is a data error the validator reports; keep it visible as 0.
    let tf = Timeframe::new(unit(s.timeframe.unit), s.timeframe.count);
    let open = column(s.open, rows, "open")?;
    let high = column(s.high, rows, "high")?;
    let low = column(s.low, rows, "low")?;
    let close = column(s.close, rows, "close")?;
    let volume = sparse(s.volume, rows, "volume")?;
    let vwap = sparse(s.vwap, rows, "vwap")?;
    let trades = counts(s.trades, rows)?;
    if s.complete.len() != rows {
        return Err(ContractError(format!(
            "column complete has {} values for {rows} bars",
            s.complete.len()
        )));
    }
    out.reserve(rows);
    let columns = open
        .into_iter()
        .zip(high)
        .zip(low)
        .zip(close)
        .zip(volume)
        .zip(vwap)
        .zip(trades)
        .zip(s.complete)
        .zip(s.starts);
    for ((((((((open, high), low), close), volume), vwap), trades), complete), start) in columns {
        out.push(RawBar {
            symbol: s.symbol.clone(),
            timeframe: tf,
            start: instant(start),
            open,
            high,
            low,
            close,
            volume,
            vwap,
            trades,
            complete,
        });
    }
    Ok(())
}

fn adjustment(a: wt::Adjustment) -> Adjustment {
    match a {
        wt::Adjustment::Raw => Adjustment::Raw,
        wt::Adjustment::Splits => Adjustment::Splits,
        wt::Adjustment::SplitsAndDividends => Adjustment::SplitsAndDividends,
    }
}

fn page_of(p: wit::BarsPage) -> Result<BarsPage, ContractError> {
    let mut bars = Vec::with_capacity(p.series.iter().map(|s| s.starts.len()).sum());
    let mut adjusted = BTreeMap::new();
    for s in p.series {
        let basis = adjustment(s.adjustment);
        // One symbol's bars in one page are one basis: two would leave the store unable to
        // say what a row was restated for.
        match adjusted.insert(s.symbol.clone(), basis) {
            Some(other) if other != basis => {
                return Err(ContractError(format!(
                    "series of {} sent as both {} and {}",
                    s.symbol,
                    other.as_str(),
                    basis.as_str()
                )));
            }
            _ => {}
        }
        series_rows(s, &mut bars)?;
    }
    adjusted.retain(|_, a| *a != Adjustment::Raw);
    Ok(BarsPage {
        bars,
        next_cursor: p.next_cursor,
        adjusted,
    })
}

fn events_of(e: ws::Event, out: &mut Vec<StreamEvent>) -> Result<(), ContractError> {
    match e {
        ws::Event::Bars(s) => {
            // A stream's bars are live, as traded: the host keeps no basis for them, so a
            // restated one is refused rather than stored as if it were raw.
            if s.adjustment != wt::Adjustment::Raw {
                return Err(ContractError(format!(
                    "stream bars of {} sent as {}: a stream's bars are as traded (raw)",
                    s.symbol,
                    adjustment(s.adjustment).as_str()
                )));
            }
            let mut bars = Vec::new();
            series_rows(s, &mut bars)?;
            out.extend(bars.into_iter().map(StreamEvent::Bar));
        }
        ws::Event::Quote(q) => out.push(StreamEvent::Quote(quote(q))),
        ws::Event::Trade(t) => out.push(StreamEvent::Trade(trade(t))),
        ws::Event::Reply(text) => out.push(StreamEvent::Reply(text)),
        ws::Event::Heartbeat => out.push(StreamEvent::Heartbeat),
        ws::Event::Status(text) => out.push(StreamEvent::Status(text)),
        ws::Event::Error(e) => out.push(StreamEvent::Error(error(e))),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scaled(scale: u8, mantissas: &[i64]) -> wt::Decimals {
        wt::Decimals::Scaled(wt::ScaledDecimals {
            scale,
            mantissas: mantissas.to_vec(),
        })
    }

    fn check_text(mantissa: i64, scale: u8, expected: &str) {
        assert_eq!(
            unpadded(mantissa, scale).to_text(),
            expected,
            "{mantissa} at {scale}"
        );
    }

    #[test]
    fn scaled_values_read_back_as_their_exact_text() {
        check_text(189845, 3, "189.845");
        check_text(-5, 1, "-0.5");
        check_text(5, 3, "0.005");
        check_text(0, 2, "0");
        check_text(14690, 4, "1.469");
        check_text(6426463960, 1, "642646396");
        check_text(642646396, 0, "642646396");
        check_text(i64::MAX, 0, "9223372036854775807");
        check_text(i64::MIN, 28, "-0.0000000009223372036854775808");
        check_text(3454999923706055, 14, "34.54999923706055");
    }

    fn series(rows: usize) -> wt::BarSeries {
        wt::BarSeries {
            symbol: "AAPL".into(),
            timeframe: wt::Timeframe {
                unit: wt::TimeUnit::Day,
                count: 1,
            },
            adjustment: wt::Adjustment::Raw,
            starts: (0..rows as i64).map(|d| d * 86_400_000_000_000).collect(),
            open: scaled(2, &vec![100; rows]),
            high: scaled(2, &vec![100; rows]),
            low: scaled(2, &vec![100; rows]),
            close: scaled(2, &vec![100; rows]),
            volume: wt::SparseDecimals {
                values: wt::Decimals::Text(vec![]),
                absent: vec![],
            },
            vwap: wt::SparseDecimals {
                values: wt::Decimals::Text(vec![]),
                absent: vec![],
            },
            trades: wt::SparseCounts {
                values: vec![],
                absent: vec![],
            },
            complete: vec![true; rows],
        }
    }

    fn rows(s: wt::BarSeries) -> Result<Vec<RawBar>, ContractError> {
        let mut out = Vec::new();
        series_rows(s, &mut out).map(|()| out)
    }

    #[test]
    fn columns_become_rows_with_absent_values_as_none() {
        let mut s = series(3);
        s.volume = wt::SparseDecimals {
            values: wt::Decimals::Text(vec![
                "1000000000000000.12345678".into(),
                String::new(),
                "7".into(),
            ]),
            absent: vec![1],
        };
        s.trades = wt::SparseCounts {
            values: vec![5, 0, 7],
            absent: vec![1],
        };
        let bars = rows(s).unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].open, "1");
        assert_eq!(
            bars.iter()
                .map(|b| b.volume.as_ref().map(ToString::to_string))
                .collect::<Vec<_>>(),
            [
                Some("1000000000000000.12345678".into()),
                None,
                Some("7".into())
            ]
        );
        assert_eq!(
            bars.iter().map(|b| b.trades).collect::<Vec<_>>(),
            [Some(5), None, Some(7)]
        );
        assert!(bars.iter().all(|b| b.vwap.is_none() && b.complete));
    }

    #[test]
    fn a_pages_basis_is_kept_per_symbol_and_a_stream_sends_raw_bars_only() {
        let basis = |symbol: &str, a: wt::Adjustment| wt::BarSeries {
            symbol: symbol.into(),
            adjustment: a,
            ..series(1)
        };
        let page = |series| wit::BarsPage {
            series,
            next_cursor: None,
        };
        let got = page_of(page(vec![
            basis("AAPL", wt::Adjustment::Splits),
            basis("MSFT", wt::Adjustment::Raw),
        ]))
        .unwrap();
        assert_eq!(
            got.adjusted,
            BTreeMap::from([("AAPL".to_owned(), Adjustment::Splits)])
        );
        let e = page_of(page(vec![
            basis("AAPL", wt::Adjustment::Splits),
            basis("AAPL", wt::Adjustment::Raw),
        ]))
        .unwrap_err();
        assert!(e.0.contains("AAPL sent as both splits and raw"), "{e}");
        let mut out = Vec::new();
        let e = events_of(
            ws::Event::Bars(basis("AAPL", wt::Adjustment::SplitsAndDividends)),
            &mut out,
        )
        .unwrap_err();
        assert!(e.0.contains("a stream's bars are as traded"), "{e}");
        events_of(
            ws::Event::Bars(basis("AAPL", wt::Adjustment::Raw)),
            &mut out,
        )
        .unwrap();
        assert_eq!(out.len(), 1);
    }

    fn refused(s: wt::BarSeries, needle: &str) {
        let e = rows(s).unwrap_err();
        assert!(e.0.contains(needle), "{e}");
    }

    #[test]
    fn a_column_of_the_wrong_length_breaks_the_contract() {
        let mut s = series(3);
        s.close = scaled(2, &[1, 2]);
        refused(s, "column close has 2 values for 3 bars");
        let mut s = series(3);
        s.complete = vec![true];
        refused(s, "column complete has 1 values");
        let mut s = series(2);
        s.open = scaled(29, &[1, 2]);
        refused(s, "scale 29");
        let mut s = series(2);
        s.vwap = wt::SparseDecimals {
            values: scaled(0, &[1, 2]),
            absent: vec![2],
        };
        refused(s, "`absent` must list");
        let mut s = series(3);
        s.trades = wt::SparseCounts {
            values: vec![1, 2, 3],
            absent: vec![1, 1],
        };
        refused(s, "`absent` must list");
    }
}
