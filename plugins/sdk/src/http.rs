//! HTTP through the host's `http.send`, with transport failures and the status codes every
//! provider shares (401/403, 429, 5xx) already classified as `provider-error`s.

use crate::ProviderError;
use crate::bindings::mdhost::provider::http::{self as wit, HttpError};

/// A completed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Header pairs as the owned strings the contract and [`Response`] hold.
fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

impl Response {
    /// A response as a provider sends it (what a plugin's tests feed its classification).
    pub fn new(status: u16, headers: &[(&str, &str)], body: impl Into<Vec<u8>>) -> Self {
        Response {
            status,
            headers: owned(headers),
            body: body.into(),
        }
    }

    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `Retry-After` in whole seconds, when it is given as seconds.
    pub fn retry_after(&self) -> Option<u32> {
        self.header("retry-after")
            .and_then(|v| v.trim().parse().ok())
    }

    /// Up to 200 characters of the body, for error messages.
    pub fn snippet(&self) -> String {
        snippet(&self.body)
    }

    /// Classifies the statuses whose meaning does not depend on the provider:
    /// 429 → `rate-limited`, 401/403 → `unauthorized`, 5xx → `transient`. Other statuses
    /// (2xx, and 4xx with provider-specific bodies) are returned for the plugin to read.
    pub fn check_common(self) -> Result<Response, ProviderError> {
        match self.status {
            429 => Err(ProviderError::RateLimited(self.retry_after())),
            401 | 403 => Err(ProviderError::Unauthorized(format!(
                "HTTP {}: {}",
                self.status,
                self.snippet()
            ))),
            500..=599 => Err(ProviderError::Transient(format!(
                "HTTP {}: {}",
                self.status,
                self.snippet()
            ))),
            _ => Ok(self),
        }
    }
}

/// Up to 200 characters of a body, for error messages (parsers get bodies as bytes).
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if text.chars().count() > 200 {
        s.push('…');
    }
    s
}

/// Maps a host transport error to the provider-error a plugin returns.
pub fn classify(err: HttpError) -> ProviderError {
    match err {
        // A denial is an operator setting, not a provider fault: the message says which.
        HttpError::Denied(m) => ProviderError::Unauthorized(format!("request denied by host: {m}")),
        HttpError::Timeout => ProviderError::Transient("request timed out".into()),
        HttpError::TooLarge => {
            ProviderError::BadResponse("response exceeded the host's size cap".into())
        }
        HttpError::Transport(m) => ProviderError::Transient(format!("transport: {m}")),
    }
}

/// Sends a request through the host.
pub fn send(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Result<Response, ProviderError> {
    let req = wit::Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: owned(headers),
        body,
    };
    let resp = wit::send(&req).map_err(classify)?;
    Ok(Response {
        status: resp.status,
        headers: resp.headers,
        body: resp.body,
    })
}

/// `GET url` with an `Accept: application/json` header.
pub fn get_json(url: &str) -> Result<Response, ProviderError> {
    send("GET", url, &[("accept", "application/json")], None)
}

/// [`get_json`], then [`Response::check_common`]: what is left is a 2xx or a 4xx whose body
/// only the plugin can read.
pub fn get_checked(url: &str) -> Result<Response, ProviderError> {
    get_json(url)?.check_common()
}
