//! Corporate actions from a plugin to the store, the one path `mdhost plugin actions` and
//! actions jobs share: every page of a request, the host's rules on the whole answer (so
//! copies of one event on two pages are judged together), one batch written at once.

use chrono::{NaiveDate, Utc};

use crate::domain::{ActionsPage, ActionsRequest, ProviderError};
use crate::runtime::{CallError, Plugin};
use crate::store::{ActionsBatch, ActionsSummary, Source, Store, StoreError};
use crate::validate::{ActionsExpect, CheckedActions, check_actions};

/// Why a request's actions could not be had.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Provider(ProviderError),
    #[error("{kind} failure: {0}", kind = .0.kind())]
    Call(CallError),
    #[error("pagination does not end (cursor repeated or {0} pages)")]
    Endless(u32),
}

/// Every page of `req`'s actions, following cursors up to `max_pages`.
pub async fn fetch_all(
    plugin: &Plugin,
    mut req: ActionsRequest,
    max_pages: u32,
) -> Result<ActionsPage, FetchError> {
    let mut all = ActionsPage::default();
    for page in 1.. {
        let p = match plugin.fetch_actions(&req).await {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(FetchError::Provider(e)),
            Err(e) => return Err(FetchError::Call(e)),
        };
        all.splits.extend(p.splits);
        all.dividends.extend(p.dividends);
        match p.next_cursor {
            None => break,
            Some(c) if page < max_pages && req.cursor.as_ref() != Some(&c) => req.cursor = Some(c),
            Some(_) => return Err(FetchError::Endless(max_pages)),
        }
    }
    Ok(all)
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

/// Writes what `checked` holds as `plugin`'s: the actions that passed, and the rejected
/// ones into quarantine, in one transaction.
pub async fn store(
    store: &dyn Store,
    plugin: &Plugin,
    checked: CheckedActions,
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
    store.write_actions(&batch).await
}
