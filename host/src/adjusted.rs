//! Stored bars read back restated for splits and dividends (`adjust = none | splits |
//! all`, as of a date), from the stored corporate actions of every source: the one path
//! `mdhost bars` and the admin API's `/bars` share. The rules are `adjust`'s.

use chrono::{Days, NaiveDate, Utc};

use crate::adjust::{self, AdjustError, Event, EventKind, Events, Sent, Target};
use crate::domain::Timeframe;
use crate::store::{Store, StoreError, StoredBar};

/// How a reader wants stored bars restated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adjust {
    pub target: Target,
    /// Events with ex-dates up to this day count. Default: today (UTC).
    pub as_of: NaiveDate,
}

impl Adjust {
    /// `adjust` (`none`, `splits` or `all`) and an optional as-of date, as the command
    /// line and the API take them.
    pub fn parse(adjust: &str, as_of: Option<NaiveDate>) -> Result<Self, String> {
        let target = Target::parse(adjust).ok_or_else(|| {
            format!(
                "adjust {adjust:?} is not one of {}",
                Target::NAMES.join(", ")
            )
        })?;
        Ok(Adjust {
            target,
            as_of: as_of.unwrap_or_else(|| Utc::now().date_naive()),
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Adjust(#[from] AdjustError),
}

/// Bars of one series with `from ≤ start < to`, as the provider sent them (`adjust` none)
/// or restated by `adjust`, each marked with the basis it is now in.
pub async fn bars(
    store: &dyn Store,
    symbol: &str,
    timeframe: Timeframe,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    adjust: Option<Adjust>,
) -> Result<Vec<StoredBar>, ReadError> {
    let stored = store.bars(symbol, timeframe, from, to).await?;
    let Some(a) = adjust else {
        return Ok(stored);
    };
    let Some(first) = stored.first() else {
        return Ok(stored);
    };
    // Every event that can touch these bars: after the first one, up to the as-of date
    // or the day the last one was received, whichever is later.
    let last_day = stored
        .iter()
        .map(|s| s.ingested_at.date_naive())
        .chain([a.as_of])
        .max()
        .unwrap_or(a.as_of);
    let start = first.bar.start.date_naive();
    let end = last_day.checked_add_days(Days::new(1)).unwrap_or(last_day);
    let mut events: Vec<Event> = Vec::new();
    for s in store.splits(symbol, start, end).await? {
        events.push(Event {
            ex_date: s.action.ex_date,
            source: s.source,
            kind: EventKind::Split {
                numerator: s.action.numerator,
                denominator: s.action.denominator,
            },
        });
    }
    for d in store.dividends(symbol, start, end).await? {
        events.push(Event {
            ex_date: d.action.ex_date,
            source: d.source,
            kind: EventKind::Dividend {
                amount: d.action.amount,
            },
        });
    }
    let events = Events::merge(&events)?;
    let sent: Vec<Sent> = stored
        .iter()
        .map(|s| Sent {
            bar: s.bar.clone(),
            adjustment: s.adjustment,
            received: s.ingested_at.date_naive(),
        })
        .collect();
    let restated = adjust::adjust(&sent, &events, a.target, a.as_of)?;
    Ok(stored
        .into_iter()
        .zip(restated)
        .map(|(s, bar)| StoredBar {
            bar,
            adjustment: a.target.basis(),
            ..s
        })
        .collect())
}
