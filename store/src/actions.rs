//! Corporate actions: splits and cash dividends kept per source, and rejected actions
//! quarantined once per key, written and read once for both backends over the dialect
//! seam (`dialect.rs`).
//!
//! A write compares in Rust, not in SQL as bars do (`keyed.rs`, shared with observations
//! and instruments): a page of actions is a few hundred rows where a page of bars is tens
//! of thousands. Decimals compare by value, so `4` and `4.0` are one ratio on both backends.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use sqlx::query_builder::Separated;
use sqlx::{Pool, QueryBuilder, Transaction};

use super::convert;
use super::dialect::Dialect;
use super::keyed::{self, Keyed};
use super::rows::{self, Columns};
use super::{ActionsBatch, ActionsSummary, QuarantinedAction, StoreError, StoredAction};
use mdhost_core::validate::actions::{Dividend, Rejected, Split};

/// The kind of the quality event that logs a change an action's own source made to it.
pub const REVISED: &str = "action.revised";

/// Rows per statement: a dividend binds 12 values, so a statement stays far below SQLite's
/// 32,766 parameters.
const ROWS_PER_STATEMENT: usize = 1_000;

impl Keyed for Split {
    const TABLE: &'static str = "splits";
    const KEY: &'static str = "symbol, ex_date";
    const COLUMNS: &'static str = "symbol, ex_date, numerator, denominator, provider_id";
    const REVISED: &'static str = REVISED;
    type Key = (String, NaiveDate);

    fn key(&self) -> Self::Key {
        (self.symbol.clone(), self.ex_date)
    }
    fn bind_key<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::text(&self.symbol))
            .push_bind(DB::day(Some(self.ex_date)));
    }
    fn bind_values<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::dec(self.numerator))
            .push_bind(DB::dec(self.denominator))
            .push_bind(DB::opt_text(self.provider_id.as_deref()));
    }
    fn read(r: &impl Columns) -> Result<Self, StoreError> {
        Ok(Split {
            symbol: r.text("symbol")?,
            ex_date: r.day("ex_date")?,
            numerator: r.decimal("numerator")?,
            denominator: r.decimal("denominator")?,
            provider_id: r.opt_text("provider_id")?,
        })
    }
    fn event_symbol(&self) -> &str {
        &self.symbol
    }
    /// The ex-date at midnight UTC.
    fn event_start(&self) -> Option<DateTime<Utc>> {
        Some(self.ex_date.and_time(NaiveTime::MIN).and_utc())
    }
}

impl Keyed for Dividend {
    const TABLE: &'static str = "dividends";
    const KEY: &'static str = "symbol, ex_date, kind";
    const COLUMNS: &'static str = "symbol, ex_date, kind, amount, currency, declared_date, \
                                   record_date, pay_date, provider_id";
    const REVISED: &'static str = REVISED;
    type Key = (String, NaiveDate, String);

    fn key(&self) -> Self::Key {
        (
            self.symbol.clone(),
            self.ex_date,
            convert::dividend_kind_text(self.kind),
        )
    }
    fn bind_key<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::text(&self.symbol))
            .push_bind(DB::day(Some(self.ex_date)))
            .push_bind(DB::text(&convert::dividend_kind_text(self.kind)));
    }
    fn bind_values<DB: Dialect>(&self, row: &mut Separated<'_, DB, &'static str>) {
        row.push_bind(DB::dec(self.amount))
            .push_bind(DB::text(&self.currency))
            .push_bind(DB::day(self.declared_date))
            .push_bind(DB::day(self.record_date))
            .push_bind(DB::day(self.pay_date))
            .push_bind(DB::opt_text(self.provider_id.as_deref()));
    }
    fn read(r: &impl Columns) -> Result<Self, StoreError> {
        Ok(Dividend {
            symbol: r.text("symbol")?,
            ex_date: r.day("ex_date")?,
            kind: convert::dividend_kind(&r.text("kind")?)?,
            amount: r.decimal("amount")?,
            currency: r.text("currency")?,
            declared_date: r.opt_day("declared_date")?,
            record_date: r.opt_day("record_date")?,
            pay_date: r.opt_day("pay_date")?,
            provider_id: r.opt_text("provider_id")?,
        })
    }
    fn event_symbol(&self) -> &str {
        &self.symbol
    }
    /// The ex-date at midnight UTC.
    fn event_start(&self) -> Option<DateTime<Utc>> {
        Some(self.ex_date.and_time(NaiveTime::MIN).and_utc())
    }
}

/// Writes `batch` in one transaction: new actions inserted, the source's changed ones
/// replaced and logged as `action.revised` (the shared plan of `keyed.rs`), rejected ones
/// quarantined.
pub(super) async fn write<DB: Dialect>(
    pool: &Pool<DB>,
    batch: &ActionsBatch,
    fence: Option<&super::Fence>,
) -> Result<ActionsSummary, StoreError> {
    let mut tx = DB::begin_write(pool, batch.run, fence).await?;
    let (source, at) = (&batch.source, batch.received_at);
    let splits = keyed::write(&mut tx, &batch.splits, source, at).await?;
    let dividends = keyed::write(&mut tx, &batch.dividends, source, at).await?;
    quarantine(&mut tx, batch).await?;
    tx.commit().await?;
    Ok(ActionsSummary {
        inserted: splits.inserted + dividends.inserted,
        revised: splits.revised + dividends.revised,
        unchanged: splits.unchanged + dividends.unchanged,
        quarantined: batch.rejected.len() as u64,
        spooled: false,
    })
}

/// One quarantine row: the last copy of a rejected action, counted, per key and codes.
struct QuarantineRow {
    action: &'static str,
    symbol: String,
    ex_date: String,
    /// The dividend's kind, `""` for a split.
    kind: String,
    raw: String,
    reasons: String,
    codes: String,
    seen: i64,
}

impl QuarantineRow {
    fn of(r: &Rejected) -> Self {
        let (action, symbol, ex_date, kind, raw, reasons) = match r {
            Rejected::Split { raw, reasons } => (
                "split",
                &raw.symbol,
                raw.ex_date,
                String::new(),
                serde_json::to_string(raw),
                reasons,
            ),
            Rejected::Dividend { raw, reasons } => (
                "dividend",
                &raw.symbol,
                raw.ex_date,
                convert::dividend_kind_text(raw.kind),
                serde_json::to_string(raw),
                reasons,
            ),
        };
        let codes: Vec<&str> = reasons.iter().map(|x| x.code.as_str()).collect();
        QuarantineRow {
            action,
            symbol: symbol.clone(),
            // Text as chrono writes it, years beyond four digits included.
            ex_date: ex_date.to_string(),
            kind,
            raw: raw.expect("raw actions serialize"),
            reasons: convert::reasons_json(reasons),
            codes: codes.join(","),
            seen: 1,
        }
    }

    fn key(&self) -> (&'static str, String, String, String, String) {
        (
            self.action,
            self.symbol.clone(),
            self.ex_date.clone(),
            self.kind.clone(),
            self.codes.clone(),
        )
    }
}

/// The rejected actions of `batch`, one row per key and set of reasons (the last copy,
/// counted): Postgres refuses to upsert one key twice in a statement, and a page whose
/// copies of an event differ rejects every copy with the same reason.
fn quarantine_rows(rejected: &[Rejected]) -> Vec<QuarantineRow> {
    let mut rows: Vec<QuarantineRow> = Vec::with_capacity(rejected.len());
    let mut at: HashMap<_, usize> = HashMap::new();
    for r in rejected {
        let row = QuarantineRow::of(r);
        match at.get(&row.key()) {
            Some(&i) => {
                let seen = rows[i].seen + 1;
                rows[i] = QuarantineRow { seen, ..row };
            }
            None => {
                at.insert(row.key(), rows.len());
                rows.push(row);
            }
        }
    }
    rows
}

async fn quarantine<DB: Dialect>(
    tx: &mut Transaction<'static, DB>,
    batch: &ActionsBatch,
) -> Result<(), StoreError> {
    let rows = quarantine_rows(&batch.rejected);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let mut q = QueryBuilder::<DB>::new(
            "INSERT INTO quarantined_actions (action, symbol, ex_date, kind, raw, reasons,
                 reason_codes, seen, source, plugin_version, received_at) ",
        );
        q.push_values(chunk, |mut row, r| {
            row.push_bind(DB::text(r.action))
                .push_bind(DB::text(&r.symbol))
                .push_bind(DB::text(&r.ex_date))
                .push_bind(DB::text(&r.kind))
                .push_bind(DB::text(&r.raw))
                .push_bind(DB::text(&r.reasons))
                .push_bind(DB::text(&r.codes))
                .push_bind(DB::int(r.seen))
                .push_bind(DB::text(&batch.source.provider))
                .push_bind(DB::text(&batch.source.version))
                .push_bind(DB::at(batch.received_at));
        });
        q.push(
            " ON CONFLICT (source, action, symbol, ex_date, kind, reason_codes) DO UPDATE SET
                 raw = excluded.raw, reasons = excluded.reasons,
                 plugin_version = excluded.plugin_version, received_at = excluded.received_at,
                 seen = quarantined_actions.seen + excluded.seen",
        );
        DB::tx_execute(tx, q).await?;
    }
    Ok(())
}

/// A day as a query bound, clamped to the years 1 to 9999: an open range comes as
/// `NaiveDate::MIN`/`MAX`, which DATE refuses and whose text sorts out of order.
pub(super) fn bound(d: NaiveDate) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(1, 1, 1).expect("a day");
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).expect("a day");
    d.clamp(first, last)
}

/// The actions of one symbol with `from ≤ ex_date < to`, every source's, oldest first.
pub(super) async fn read<DB: Dialect, T: Keyed>(
    pool: &Pool<DB>,
    symbol: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<StoredAction<T>>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(format!(
        "SELECT {}, source, plugin_version, ingested_at FROM {} WHERE symbol = ",
        T::COLUMNS,
        T::TABLE
    ));
    q.push_bind(DB::text(symbol))
        .push(" AND ex_date >= ")
        .push_bind(DB::day(Some(bound(from))))
        .push(" AND ex_date < ")
        .push_bind(DB::day(Some(bound(to))))
        .push(format!(" ORDER BY {}, source", T::KEY));
    DB::all(pool, q)
        .await?
        .iter()
        .map(|r| {
            Ok(StoredAction {
                action: T::read(r)?,
                source: r.text("source")?,
                plugin_version: r.text("plugin_version")?,
                ingested_at: r.time("ingested_at")?,
            })
        })
        .collect()
}

/// The newest quarantined actions first.
pub(super) async fn quarantined<DB: Dialect>(
    pool: &Pool<DB>,
    limit: u32,
) -> Result<Vec<QuarantinedAction>, StoreError> {
    let mut q = QueryBuilder::<DB>::new(
        "SELECT id, action, symbol, ex_date, kind, raw, reasons, seen, source, plugin_version,
                received_at
         FROM quarantined_actions ORDER BY received_at DESC, id DESC LIMIT ",
    );
    q.push_bind(DB::int(i64::from(limit)));
    rows::all(DB::all(pool, q).await?, quarantined_action)
}

fn quarantined_action(r: &impl Columns) -> Result<QuarantinedAction, StoreError> {
    let raw = r.text("raw")?;
    let kind = r.text("kind")?;
    Ok(QuarantinedAction {
        id: r.int("id")?,
        action: r.text("action")?,
        symbol: r.text("symbol")?,
        ex_date: r.text("ex_date")?,
        kind: Some(kind).filter(|k| !k.is_empty()),
        raw: serde_json::from_str(&raw).map_err(|e| StoreError::corrupt("raw", raw, e))?,
        reasons: convert::reasons(&r.text("reasons")?)?,
        seen: r.int("seen")?,
        source: r.text("source")?,
        plugin_version: r.text("plugin_version")?,
        received_at: r.time("received_at")?,
    })
}
