//! Corporate actions from a plugin to the store, the one path `mdhost plugin actions` and
//! actions jobs share: every page of a request, the host's rules on the whole answer (so
//! copies of one event on two pages are judged together), one batch written at once.

use chrono::{NaiveDate, Utc};

use crate::domain::{ActionsPage, ActionsRequest};
use crate::runtime::{End, Plugin};
use crate::store::{ActionsBatch, ActionsSummary, Source, Store, StoreError};
use crate::validate::{ActionsExpect, CheckedActions, check_actions};

/// Every page of `req`'s actions, or why the walk did not reach the last one.
pub async fn fetch_all(
    plugin: &Plugin,
    req: &ActionsRequest,
    max_pages: u32,
) -> Result<ActionsPage, End> {
    match plugin.all_actions(req, max_pages).await {
        (page, End::Complete) => Ok(page),
        (_, end) => Err(end),
    }
}

/// `page` judged by the host's rules for a request of `symbols` with ex-dates in
/// `[start, end)`, as of today.
pub fn check(
    page: &ActionsPage,
    symbols: &[String],
    start: NaiveDate,
    end: NaiveDate,
) -> CheckedActions {
    check_actions(
        page,
        &ActionsExpect {
            symbols,
            start,
            end,
            today: Utc::now().date_naive(),
        },
    )
}

/// Writes what `checked` holds as `plugin`'s (fetched by job run `run`, if any): the
/// actions that passed, and the rejected ones into quarantine, in one transaction.
pub async fn store(
    store: &dyn Store,
    plugin: &Plugin,
    checked: CheckedActions,
    run: Option<i64>,
) -> Result<ActionsSummary, StoreError> {
    let mut batch = ActionsBatch::new(
        Source {
            provider: plugin.name().to_owned(),
            version: plugin.version().to_owned(),
        },
        Utc::now(),
    );
    batch.splits = checked.splits;
    batch.dividends = checked.dividends;
    batch.rejected = checked.rejected;
    batch.run = run;
    store.write_actions(&batch).await
}
