//! `plugin parse`: one response body fed straight to a plugin, so that a sample from a
//! provider's documentation can be tried without guessing the exact URL the plugin builds.
//! The plugin's first request is answered with the body, once (the host does not retry, so
//! the plugin classifies a 429 or a 500 as it stands); any other request fails, and is
//! reported, so a plugin that pages within one call says so.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::HarnessError;
use super::runner::{HarnessOptions, load_offline, paused_runtime};
use super::validate::bar_violations;
use mdhost_core::domain::{BarsPage, BarsRequest, ProviderError, ProviderInfo};
use mdhost_runtime::CallError;
use mdhost_runtime::net::transport::SendFuture;
use mdhost_runtime::net::{HttpRequest, HttpResponse, RetryPolicy, Transport, TransportError};

/// The one answer: status, headers and body.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the plugin made of the body.
#[derive(Debug)]
pub struct Parsed {
    pub info: ProviderInfo,
    /// The request the body answered, as the plugin built it (`None`: it made none).
    pub request: Option<String>,
    /// Other requests the plugin made in the same call, refused.
    pub refused: Vec<String>,
    /// The page, the plugin's classified error, or the sandbox's failure.
    pub page: Result<Result<BarsPage, ProviderError>, CallError>,
    /// For each bar of the page that the host's validation would quarantine: its index
    /// and the reasons.
    pub violations: Vec<(usize, Vec<String>)>,
}

/// Answers the first request it sees, and its repeats, with one body.
struct OneBody {
    answer: Answer,
    first: Mutex<Option<String>>,
    refused: Mutex<Vec<String>>,
}

impl Transport for OneBody {
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        _wire: &'a HttpRequest,
        _timeout: Duration,
        max_body: usize,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            let url = format!("{} {}", as_built.method, as_built.url);
            let mut first = self.first.lock();
            match first.as_deref() {
                None => *first = Some(url),
                Some(f) if f == url => {}
                Some(_) => {
                    let mut refused = self.refused.lock();
                    if !refused.contains(&url) {
                        refused.push(url.clone());
                    }
                    return Err(TransportError::Other(format!(
                        "plugin parse answers only the first request; this one was refused: {url}"
                    )));
                }
            }
            if self.answer.body.len() > max_body {
                return Err(TransportError::TooLarge(max_body));
            }
            Ok(HttpResponse {
                status: self.answer.status,
                headers: self.answer.headers.clone(),
                body: self.answer.body.clone(),
            })
        })
    }
}

/// Loads `plugin`, asks it for the first page of `req`, answers its request with `answer`
/// and checks the bars as the host would. Blocks; call it from synchronous code.
pub fn parse_body(
    plugin: &Path,
    opts: &HarnessOptions,
    answer: Answer,
    req: &BarsRequest,
) -> Result<Parsed, HarnessError> {
    let tokio = paused_runtime()?;
    let transport = Arc::new(OneBody {
        answer,
        first: Mutex::new(None),
        refused: Mutex::new(Vec::new()),
    });
    // No retries: the plugin sees the one answer as it is, a 429 or a 500 included.
    let once = RetryPolicy {
        max_attempts: 1,
        jitter: false,
        ..RetryPolicy::default()
    };
    let plugin = load_offline(&tokio, plugin, opts, transport.clone(), once)?;
    let page = tokio.block_on(plugin.fetch_bars(req));
    let classes = plugin.info().classes();
    let violations = match &page {
        Ok(Ok(p)) => p
            .bars
            .iter()
            .enumerate()
            .map(|(i, b)| (i, bar_violations(b, req, classes)))
            .filter(|(_, v)| !v.is_empty())
            .collect(),
        _ => Vec::new(),
    };
    Ok(Parsed {
        info: plugin.info().clone(),
        request: transport.first.lock().clone(),
        refused: transport.refused.lock().clone(),
        page,
        violations,
    })
}
