//! A job's symbols chosen from a provider's stored listing (`symbols_from`), read at the
//! start of each run: a listing stored by an instruments job of that provider.

use chrono::{DateTime, Utc};

use super::run::{JobContext, not_run};
use super::status::RunSummary;
use crate::config::{JobConfig, Selection};
use crate::store::Store;

/// The symbols `sel` takes from its provider's stored listing; the error says why there
/// are none (nothing stored yet, nothing matching, the store unreachable).
pub async fn symbols(store: &dyn Store, sel: &Selection) -> Result<Vec<String>, String> {
    let listing = store
        .instruments(Some(&sel.provider))
        .await
        .map_err(|e| format!("symbols_from {sel}: cannot read the stored listing: {e}"))?;
    if listing.is_empty() {
        return Err(format!(
            "symbols_from {sel}: no instruments of {} are stored yet; an instruments job (kind = \"instruments\", providers = [\"{}\"]) stores its listing",
            sel.provider, sel.provider
        ));
    }
    let picked = sel.pick(listing.iter().map(|s| &s.item));
    if picked.is_empty() {
        return Err(format!(
            "symbols_from {sel}: none of the {} stored instruments of {} matches",
            listing.len(),
            sel.provider
        ));
    }
    Ok(picked)
}

/// A run that could not start because it has no symbols: recorded as failed with `reason`.
pub async fn failed(
    ctx: &JobContext,
    job: &JobConfig,
    now: DateTime<Utc>,
    reason: String,
) -> RunSummary {
    let line = format!("no symbols to run: {reason}");
    not_run(ctx, job, now, reason, line).await
}
