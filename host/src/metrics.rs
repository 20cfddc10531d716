//! Prometheus metrics. Placeholder with the agreed API while the admin branch builds the
//! real registry; replaced when that branch merges.

use std::time::Duration;

use chrono::{DateTime, Utc};

#[derive(Debug, Default)]
pub struct Metrics {}

impl Metrics {
    pub fn new() -> Self {
        Metrics {}
    }
    pub fn call(&self, _provider: &str, _op: &str, _outcome: &str, _elapsed: Duration) {}
    pub fn rate_limit_wait(&self, _provider: &str, _waited: Duration) {}
    pub fn bars(&self, _provider: &str, _timeframe: &str, _written: u64, _rejected: u64) {}
    pub fn run(&self, _job: &str, _status: &str) {}
    pub fn reload(&self, _ok: bool) {}
    pub fn render(&self, _freshness: &[crate::store::Freshness], _now: DateTime<Utc>) -> String {
        String::new()
    }
}
