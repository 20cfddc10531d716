//! `[publish]`: where stored rows are published (a NATS server with JetStream) and into
//! which stream.

use serde::Deserialize;
use serde_spanned::Spanned;

use super::{ConfigError, Source};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPublish {
    url: Spanned<String>,
    stream: Option<Spanned<String>>,
}

/// The validated `[publish]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishConfig {
    /// The NATS server (`nats://host:port`, `tls://host:port`).
    pub url: String,
    /// The JetStream stream that holds `mdhost.>`, created if missing.
    pub stream: String,
}

/// The stream's name when `[publish]` gives none.
pub const DEFAULT_STREAM: &str = "MDHOST";

impl Source<'_> {
    pub(super) fn publish(&self, p: RawPublish) -> Result<PublishConfig, ConfigError> {
        let url = self.nats_url(&p.url, "publish.url")?;
        let stream = match &p.stream {
            Some(s) => {
                let name = s.get_ref();
                // JetStream refuses these in a stream's name (they are subject syntax).
                let bad = |c: char| c.is_whitespace() || matches!(c, '.' | '*' | '>' | '/' | '\\');
                if name.is_empty() || name.chars().any(bad) {
                    return self.err(
                        s.span(),
                        "publish.stream".into(),
                        format!("{name:?} is not a stream name (no spaces, '.', '*', '>', '/')"),
                    );
                }
                name.clone()
            }
            None => DEFAULT_STREAM.to_owned(),
        };
        Ok(PublishConfig { url, stream })
    }
}
