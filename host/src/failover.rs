//! Failover along an ordered provider list, the one walk jobs, backfills and stream gap
//! recovery share: each provider in order, as the plugin that serves the timeframe or
//! as the reason it cannot (not loaded, not at this timeframe), so that every caller
//! skips and reports providers alike.

use std::sync::Arc;

use crate::domain::Timeframe;
use crate::reload::Registry;
use crate::runtime::Plugin;

/// The providers of one job or stream, first choice first.
pub struct Failover<'a> {
    pub registry: &'a Registry,
    pub providers: &'a [String],
    pub timeframe: Timeframe,
}

impl Failover<'_> {
    /// Each provider in order: the plugin serving it now, or why it cannot serve
    /// (`"<name>: provider missing"`, `"<name>: does not serve 1m"`). Callers stop when
    /// nothing is left to fetch.
    pub fn serving(&self) -> impl Iterator<Item = Result<Arc<Plugin>, String>> + '_ {
        self.providers
            .iter()
            .map(|name| match self.registry.get(name) {
                None => Err(format!("{name}: provider missing")),
                Some(p) if !p.info().timeframes.contains(&self.timeframe) => {
                    Err(format!("{name}: does not serve {}", self.timeframe))
                }
                Some(p) => Ok(p),
            })
    }
}
