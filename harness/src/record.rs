//! Recording: a `Transport` that passes requests to the live network and keeps each
//! exchange; the record modes of VCR libraries; and the secret guard, which scrubs secret
//! values from recorded responses and refuses to write a cassette that still holds one.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::case::{Outcome, fetch_all};
use super::cassette::{
    Answer, Body, CaseSpec, Cassette, CassetteError, Exchange, Expect, Fault, RecordedResponse,
    write_atomically,
};
use super::replay::ReplayTransport;
use mdhost_core::domain::{BarsRequest, ProviderInfo};
use mdhost_runtime::net::transport::SendFuture;
use mdhost_runtime::net::{HttpRequest, RetryPolicy, Transport, TransportError};
use mdhost_runtime::{LoadError, PluginSettings, Runtime, RuntimeOptions};

/// When to go to the network, as in VCR libraries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordMode {
    /// Never: replay the existing cassette strictly.
    None,
    /// Record when the cassette does not exist yet; replay it when it does.
    Once,
    /// Replay what the cassette has; record requests it does not have, and append them.
    NewEpisodes,
    /// Record everything again, replacing the cassette.
    All,
}

impl FromStr for RecordMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(RecordMode::None),
            "once" => Ok(RecordMode::Once),
            "new-episodes" | "new_episodes" => Ok(RecordMode::NewEpisodes),
            "all" => Ok(RecordMode::All),
            _ => Err(format!(
                "record mode {s:?}: expected none, once, new-episodes or all"
            )),
        }
    }
}

/// What a mode means for a cassette that does or does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Replay strictly; touch neither the network nor the file.
    Replay,
    /// Go live. With `keep_existing`, existing exchanges are replayed and kept, and only
    /// unmatched requests go to the network.
    Record { keep_existing: bool },
}

impl RecordMode {
    pub fn plan(self, cassette: &Path, exists: bool) -> Result<Plan, String> {
        match (self, exists) {
            (RecordMode::None, true) | (RecordMode::Once, true) => Ok(Plan::Replay),
            (RecordMode::None, false) => Err(format!(
                "{}: does not exist, and mode `none` never records; use --mode once to record it",
                cassette.display()
            )),
            (RecordMode::Once, false) | (RecordMode::All, _) => Ok(Plan::Record {
                keep_existing: false,
            }),
            (RecordMode::NewEpisodes, exists) => Ok(Plan::Record {
                keep_existing: exists,
            }),
        }
    }
}

/// Passes requests to `inner` (the live network) and keeps every exchange, the request
/// as the plugin built it (placeholders intact), in order.
pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    log: Mutex<Vec<Exchange>>,
    source: String,
}

impl RecordingTransport {
    pub fn new(inner: Arc<dyn Transport>) -> Self {
        RecordingTransport {
            inner,
            log: Mutex::new(Vec::new()),
            source: format!(
                "recorded live by mdhost plugin record on {}",
                chrono::Utc::now().format("%Y-%m-%d")
            ),
        }
    }

    /// The exchanges recorded so far.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log.lock().clone()
    }
}

impl Transport for RecordingTransport {
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        wire: &'a HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            let result = self.inner.send(as_built, wire, timeout, max_body).await;
            let answer = match &result {
                Ok(r) => Some(Answer::Response(RecordedResponse {
                    status: r.status,
                    headers: r.headers.clone(),
                    body: Body {
                        bytes: r.body.clone(),
                        file: None,
                    },
                    truncate: None,
                })),
                Err(TransportError::Timeout) => Some(Answer::Fault(Fault::Timeout)),
                Err(TransportError::Connect(_) | TransportError::Other(_)) => {
                    Some(Answer::Fault(Fault::Reset))
                }
                // The body was never read in full, so there is nothing faithful to keep;
                // replay will report the request as unmatched.
                Err(TransportError::TooLarge(_)) => None,
            };
            if let Some(answer) = answer {
                self.log.lock().push(Exchange {
                    source: Some(self.source.clone()),
                    request: as_built.clone(),
                    answer,
                    delay: None,
                });
            }
            result
        })
    }
}

/// A secret's name and value, to keep out of cassettes.
#[derive(Clone)]
pub struct SecretToScrub {
    pub name: String,
    pub value: String,
}

impl std::fmt::Debug for SecretToScrub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretToScrub({}, ***)", self.name)
    }
}

/// Values shorter than this would match ordinary text; such a secret cannot be scrubbed
/// reliably, so recording refuses to run with it (and the host never sends it).
const MIN_SCRUBBABLE: usize = mdhost_runtime::capabilities::secrets::MIN_SECRET_LEN;

/// The spellings of a value that may appear on the wire.
fn forms(value: &str) -> Vec<String> {
    mdhost_runtime::capabilities::secrets::spellings(value)
}

fn replace_all(bytes: &[u8], from: &[u8], to: &[u8]) -> (Vec<u8>, usize) {
    let mut out = Vec::with_capacity(bytes.len());
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
            n += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    (out, n)
}

/// Replaces every secret value in recorded responses with its `{{secret:NAME}}`
/// placeholder; returns how many were replaced. A value in a request means the plugin saw
/// it, which must never happen: that is refused, as is a value too short to scrub.
pub fn scrub(cassette: &mut Cassette, secrets: &[SecretToScrub]) -> Result<usize, String> {
    let mut count = 0;
    for s in secrets {
        if s.value.len() < MIN_SCRUBBABLE {
            return Err(format!(
                "secret {:?} is shorter than {MIN_SCRUBBABLE} characters, too short to scrub from a cassette reliably",
                s.name
            ));
        }
        let placeholder = format!("{{{{secret:{}}}}}", s.name);
        for form in forms(&s.value) {
            for (i, x) in cassette.exchanges.iter_mut().enumerate() {
                let req = &x.request;
                let in_request = req.url.contains(&form)
                    || req.headers.iter().any(|(_, v)| v.contains(&form))
                    || req
                        .body
                        .as_deref()
                        .is_some_and(|b| replace_all(b, form.as_bytes(), b"").1 > 0);
                if in_request {
                    return Err(format!(
                        "exchanges[{i}]: the request as the plugin built it holds the value of secret {:?}; refusing to write it",
                        s.name
                    ));
                }
                if let Answer::Response(r) = &mut x.answer {
                    for (_, v) in &mut r.headers {
                        count += v.matches(&form).count();
                        *v = v.replace(&form, &placeholder);
                    }
                    if r.body.file.is_none() {
                        let (b, n) =
                            replace_all(&r.body.bytes, form.as_bytes(), placeholder.as_bytes());
                        r.body.bytes = b;
                        count += n;
                    }
                }
            }
        }
    }
    Ok(count)
}

/// The last line of defence: fails if the text about to be written holds a secret value.
pub fn guard(text: &str, secrets: &[SecretToScrub]) -> Result<(), String> {
    for s in secrets {
        if forms(&s.value).iter().any(|f| text.contains(f.as_str())) {
            return Err(format!(
                "the cassette would hold the value of secret {:?} (perhaps inside a base64 body); refusing to write it",
                s.name
            ));
        }
    }
    Ok(())
}

/// A recording could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Mode(String),
    #[error(transparent)]
    Cassette(#[from] CassetteError),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{}: {message}", file.display())]
    Refused { file: PathBuf, message: String },
    #[error("{0}")]
    Runtime(String),
}

/// What to record.
pub struct RecordJob {
    pub plugin: PathBuf,
    pub cassette: PathBuf,
    pub request: BarsRequest,
    /// Exchanges kept from the existing cassette (mode new-episodes) or none.
    pub keep_existing: bool,
    /// The operator's settings for the plugin (allow_hosts, secrets, limits).
    pub settings: Box<dyn FnOnce(&ProviderInfo) -> PluginSettings + Send>,
    /// The secret values to keep out of the file.
    pub secrets: Vec<SecretToScrub>,
    /// The live network.
    pub live: Arc<dyn Transport>,
    pub cache_dir: Option<PathBuf>,
    pub max_pages: u32,
}

/// What a recording did.
#[derive(Debug)]
pub struct RecordSummary {
    pub outcome: Outcome,
    pub kept: usize,
    pub recorded: usize,
    pub scrubbed: usize,
}

/// Makes the request live (replaying kept exchanges first) and writes the cassette, with
/// the request as its case. Runs on real time: call it from an ordinary tokio runtime.
pub async fn record(job: RecordJob) -> Result<RecordSummary, RecordError> {
    let refused = |message: String| RecordError::Refused {
        file: job.cassette.clone(),
        message,
    };
    let existing = if job.keep_existing {
        Some(Cassette::load(&job.cassette)?)
    } else {
        None
    };
    let recorder = Arc::new(RecordingTransport::new(job.live.clone()));
    let transport: Arc<dyn Transport> = match &existing {
        Some(c) => {
            let replay = ReplayTransport::with_fallback(recorder.clone());
            replay.load(Arc::new(c.clone()));
            Arc::new(replay)
        }
        None => recorder.clone(),
    };
    let rt = Runtime::new(RuntimeOptions {
        cache_dir: job.cache_dir.clone(),
        pooling: true,
        transport,
        retry: RetryPolicy::default(),
        metrics: Arc::new(mdhost_runtime::NoMetrics),
    })
    .map_err(|e| RecordError::Runtime(e.to_string()))?;
    let plugin = rt.load_file(&job.plugin, job.settings).await?;
    let max = plugin.info().max_symbols_per_request as usize;
    if job.request.symbols.len() > max {
        return Err(RecordError::Mode(format!(
            "a cassette holds one request; {} takes at most {max} symbol(s) per request, {} were given",
            plugin.name(),
            job.request.symbols.len()
        )));
    }
    let outcome = fetch_all(&plugin, &job.request, job.max_pages).await;
    let recorded = recorder.exchanges();
    let (kept, description, expect, streams) = match existing {
        Some(c) => (
            c.exchanges,
            c.description,
            c.case.map(|c| c.expect),
            c.streams,
        ),
        None => (Vec::new(), None, None, Vec::new()),
    };
    // A new case expects what happened; an existing one keeps what its author declared.
    let expect = expect.unwrap_or_else(|| Expect {
        error: outcome.end.error_kind().map(str::to_owned),
        quarantine: Vec::new(),
    });
    let mut cassette = Cassette {
        file: job.cassette.clone(),
        description: description.or_else(|| {
            Some(format!(
                "{} {}: {} {} from {} to {}",
                plugin.name(),
                plugin.version(),
                job.request.symbols.join(","),
                job.request.timeframe,
                job.request.start,
                job.request.end
            ))
        }),
        case: Some(CaseSpec {
            kind: crate::cassette::CaseKind::Bars,
            request: job.request.clone(),
            asset_class: None,
            expect,
        }),
        exchanges: kept
            .iter()
            .cloned()
            .chain(recorded.iter().cloned())
            .collect(),
        streams,
    };
    let scrubbed = scrub(&mut cassette, &job.secrets).map_err(refused)?;
    let text = cassette.to_yaml()?;
    guard(&text, &job.secrets).map_err(refused)?;
    write_atomically(&job.cassette, text.as_bytes())
        .map_err(|e| refused(format!("cannot write: {e}")))?;
    Ok(RecordSummary {
        outcome,
        kept: kept.len(),
        recorded: recorded.len(),
        scrubbed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mdhost_runtime::net::HttpResponse;

    fn plan(mode: &str, exists: bool) -> Result<Plan, String> {
        mode.parse::<RecordMode>()?
            .plan(Path::new("c.yaml"), exists)
    }

    #[test]
    fn modes_behave_as_in_vcr_libraries() {
        let rec = |keep_existing| Ok(Plan::Record { keep_existing });
        assert_eq!(plan("none", true), Ok(Plan::Replay));
        assert!(plan("none", false).unwrap_err().contains("--mode once"));
        assert_eq!(plan("once", true), Ok(Plan::Replay));
        assert_eq!(plan("once", false), rec(false));
        assert_eq!(plan("new-episodes", true), rec(true));
        assert_eq!(plan("new-episodes", false), rec(false));
        assert_eq!(plan("all", true), rec(false));
        assert!(
            plan("sometimes", true)
                .unwrap_err()
                .contains("expected none")
        );
    }

    fn secret(value: &str) -> Vec<SecretToScrub> {
        vec![SecretToScrub {
            name: "api_key".into(),
            value: value.into(),
        }]
    }

    fn cassette(url: &str, body: &str) -> Cassette {
        Cassette {
            exchanges: vec![Exchange {
                source: None,
                request: HttpRequest {
                    method: "GET".into(),
                    url: url.into(),
                    headers: vec![],
                    body: None,
                },
                answer: Answer::Response(RecordedResponse {
                    status: 200,
                    headers: vec![("x-echo".into(), "key=s3cr3t/+k".into())],
                    body: Body {
                        bytes: body.as_bytes().to_vec(),
                        file: None,
                    },
                    truncate: None,
                }),
                delay: None,
            }],
            ..Cassette::default()
        }
    }

    #[test]
    fn secret_values_are_scrubbed_from_responses_and_refused_in_requests() {
        let mut c = cassette(
            "https://h.example/q?apikey={{secret:api_key}}",
            r#"{"next_url":"https://h.example/q?cursor=2&apiKey=s3cr3t%2F%2Bk","echo":"s3cr3t/+k"}"#,
        );
        assert_eq!(scrub(&mut c, &secret("s3cr3t/+k")), Ok(3));
        let text = c.to_yaml().unwrap();
        assert_eq!(guard(&text, &secret("s3cr3t/+k")), Ok(()));
        assert!(text.contains("apiKey={{secret:api_key}}"), "{text}");
        assert!(!text.contains("s3cr3t"), "{text}");

        let mut leaked = cassette("https://h.example/q?apikey=s3cr3t/+k", "{}");
        assert!(
            scrub(&mut leaked, &secret("s3cr3t/+k"))
                .unwrap_err()
                .contains("refusing to write it")
        );
        assert!(
            scrub(&mut cassette("https://h.example/", "{}"), &secret("abc"))
                .unwrap_err()
                .contains("too short")
        );
        // The guard catches what scrubbing cannot see, such as a value in a base64 body.
        assert!(guard("body_base64: x\nkey: s3cr3t/+k", &secret("s3cr3t/+k")).is_err());
    }

    /// A stand-in for the network that answers every request with the same response.
    struct Fixed;
    impl Transport for Fixed {
        fn send<'a>(
            &'a self,
            _as_built: &'a HttpRequest,
            _wire: &'a HttpRequest,
            _timeout: Duration,
            _max_body: usize,
        ) -> SendFuture<'a> {
            Box::pin(async {
                Ok(HttpResponse {
                    status: 200,
                    headers: vec![],
                    body: b"live".to_vec(),
                })
            })
        }
    }

    #[tokio::test]
    async fn records_the_request_as_built_and_the_answer() {
        let rec = RecordingTransport::new(Arc::new(Fixed));
        let built = HttpRequest {
            method: "GET".into(),
            url: "https://h.example/q?k={{secret:api_key}}".into(),
            headers: vec![],
            body: None,
        };
        let wire = HttpRequest {
            url: "https://h.example/q?k=REAL".into(),
            ..built.clone()
        };
        let resp = rec
            .send(&built, &wire, Duration::from_secs(1), 100)
            .await
            .unwrap();
        assert_eq!(resp.body, b"live");
        let x = rec.exchanges();
        assert_eq!(x.len(), 1);
        assert_eq!(x[0].request, built);
        assert!(x[0].source.as_deref().unwrap().starts_with("recorded live"));
    }
}
