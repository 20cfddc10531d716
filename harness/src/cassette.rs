//! The cassette file format (YAML, documented in docs/cassettes.md): ordered HTTP exchanges
//! with scripted faults, an optional test case, and stream sessions. Parsed once into
//! validated types; every error names the file and, where YAML knows it, the line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::stream::{RawStreamSession, StreamSession};
use mdhost_core::domain::{AssetClass, BarsRequest, Timeframe};
use mdhost_runtime::net::HttpRequest;

/// The only format version so far.
pub const FORMAT_VERSION: u32 = 1;

/// A cassette could not be read, parsed or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", file.display())]
pub struct CassetteError {
    pub file: PathBuf,
    pub message: String,
}

impl CassetteError {
    pub fn new(file: &Path, message: impl Into<String>) -> Self {
        CassetteError {
            file: file.to_owned(),
            message: message.into(),
        }
    }
}

// ---- The file as written (serde) -------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCassette {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    case: Option<RawCase>,
    #[serde(default)]
    exchanges: Vec<RawExchange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    streams: Vec<RawStreamSession>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCase {
    #[serde(default, skip_serializing_if = "CaseKind::is_bars")]
    kind: CaseKind,
    #[serde(default)]
    symbols: Vec<String>,
    /// Bars cases only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    timeframe: Option<Timeframe>,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    asset_class: Option<AssetClass>,
    #[serde(default, skip_serializing_if = "Expect::is_empty")]
    expect: Expect,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExchange {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    request: RawRequest,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<RawResponse>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fault: Option<Fault>,
    /// humantime text: `250ms`, `2s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    delay: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    method: String,
    url: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "header_lines")]
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResponse {
    status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty", with = "header_lines")]
    headers: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    /// A file whose bytes are the body, relative to the cassette's folder (used to reuse
    /// the real provider bodies kept beside each plugin's tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_file: Option<String>,
    /// Deliver only the first N bytes of the body, as a connection closed early by a
    /// server that sent no length would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truncate: Option<usize>,
}

/// Headers are written one `name: value` line each, which reads better in YAML than
/// pairs; a `[name, value]` pair is accepted too.
mod header_lines {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Line {
        Text(String),
        Pair(String, String),
    }

    pub fn serialize<S: Serializer>(h: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        h.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        Vec::<Line>::deserialize(d)?
            .into_iter()
            .map(|l| match l {
                Line::Pair(k, v) => Ok((k, v)),
                Line::Text(t) => t
                    .split_once(':')
                    .map(|(k, v)| (k.trim().to_owned(), v.trim_start().to_owned()))
                    .ok_or_else(|| {
                        serde::de::Error::custom(format!("header {t:?} is not `name: value`"))
                    }),
            })
            .collect()
    }
}

// ---- Validated types --------------------------------------------------------------------

/// A transport failure scripted in place of a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fault {
    /// No answer: the transport times out (after the time the host allowed it).
    Timeout,
    /// The connection is reset before a response arrives.
    Reset,
}

/// What a case expects besides its golden output.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// The provider-error kind the case ends with (`rate-limited`, `bad-response`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Bars that must fail validation, each with a fragment of the expected reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quarantine: Vec<Quarantine>,
}

impl Expect {
    fn is_empty(&self) -> bool {
        self.error.is_none() && self.quarantine.is_empty()
    }
}

/// A bar the case expects validation to reject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    pub start: DateTime<Utc>,
    /// A fragment of the reason, such as `low`.
    pub reason: String,
}

/// What a case asks the plugin for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseKind {
    /// `fetch-bars` over `[start, end)` in `timeframe`.
    #[default]
    Bars,
    /// `fetch-actions` for the ex-dates of `[start, end)` (their UTC dates).
    Actions,
    /// `fetch-series` of the one symbol (the series id) for the dates of `[start, end)`,
    /// the latest vintage.
    Series,
    /// `fetch-instruments`: the whole listing (of `asset_class`, if given; no symbols, and
    /// `start`/`end` say nothing).
    Instruments,
}

impl CaseKind {
    fn is_bars(&self) -> bool {
        *self == CaseKind::Bars
    }
}

/// The request a case makes, and what it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseSpec {
    pub kind: CaseKind,
    /// For an actions case, its symbols and range (the timeframe is a placeholder).
    pub request: BarsRequest,
    /// The class of the case's instruments, which decides the trading calendar their daily
    /// bars are checked against; `None` leaves it to the symbol (see `validate`).
    pub asset_class: Option<AssetClass>,
    pub expect: Expect,
}

/// A response body and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The file it was read from (kept so a rewritten cassette still points there).
    pub file: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    pub truncate: Option<usize>,
}

impl RecordedResponse {
    /// The body as delivered (after truncation).
    pub fn delivered_body(&self) -> &[u8] {
        let b = &self.body.bytes;
        &b[..self.truncate.unwrap_or(b.len()).min(b.len())]
    }
}

/// What an exchange answers: a response or a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(RecordedResponse),
    Fault(Fault),
}

/// One request and its scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// Where the body came from (a fixture and its SOURCES.md row, "recorded …", "synthetic").
    pub source: Option<String>,
    /// The request as the plugin built it: secret placeholders, never values.
    pub request: HttpRequest,
    pub answer: Answer,
    /// Waited (on the host's clock) before answering.
    pub delay: Option<Duration>,
}

/// A parsed cassette.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cassette {
    /// The file it was read from (for messages); empty for a cassette built in memory.
    pub file: PathBuf,
    pub description: Option<String>,
    pub case: Option<CaseSpec>,
    pub exchanges: Vec<Exchange>,
    pub streams: Vec<StreamSession>,
}

fn decode_base64(text: &str, what: &str) -> Result<Vec<u8>, String> {
    // Long base64 is usually wrapped over several YAML lines.
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    BASE64
        .decode(compact)
        .map_err(|e| format!("{what}: invalid base64: {e}"))
}

fn one_body(
    text: Option<String>,
    base64: Option<String>,
    file: Option<String>,
    dir: &Path,
    what: &str,
) -> Result<Body, String> {
    match (text, base64, file) {
        (None, None, None) => Ok(Body::default()),
        (Some(t), None, None) => Ok(Body {
            bytes: t.into_bytes(),
            file: None,
        }),
        (None, Some(b), None) => Ok(Body {
            bytes: decode_base64(&b, what)?,
            file: None,
        }),
        (None, None, Some(f)) => {
            let path = dir.join(&f);
            let bytes = std::fs::read(&path)
                .map_err(|e| format!("{what}: body_file {}: {e}", path.display()))?;
            Ok(Body {
                bytes,
                file: Some(f),
            })
        }
        _ => Err(format!(
            "{what}: give the body once: `body`, `body_base64` or `body_file`"
        )),
    }
}

/// Text when the bytes are UTF-8, else base64: (body, body_base64).
fn encode_body(bytes: &[u8]) -> (Option<String>, Option<String>) {
    if bytes.is_empty() {
        return (None, None);
    }
    match std::str::from_utf8(bytes) {
        Ok(t) => (Some(t.to_owned()), None),
        Err(_) => (None, Some(BASE64.encode(bytes))),
    }
}

impl Cassette {
    /// Reads and validates a cassette file.
    pub fn load(path: &Path) -> Result<Self, CassetteError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CassetteError::new(path, format!("cannot read: {e}")))?;
        Self::parse(&text, path)
    }

    /// Parses `text` as the content of `path` (`body_file`s are read relative to it).
    pub fn parse(text: &str, path: &Path) -> Result<Self, CassetteError> {
        let err = |m: String| CassetteError::new(path, m);
        let raw: RawCassette = serde_norway::from_str(text).map_err(|e| {
            err(match e.location() {
                // serde_norway (like serde_yaml before it) appends the location to its message; say it once, first.
                Some(l) => format!(
                    "line {}, column {}: {}",
                    l.line(),
                    l.column(),
                    e.to_string()
                        .replace(&format!(" at line {} column {}", l.line(), l.column()), "")
                ),
                None => e.to_string(),
            })
        })?;
        if raw.version != FORMAT_VERSION {
            return Err(err(format!(
                "format version {} is not supported; this host reads version {FORMAT_VERSION}",
                raw.version
            )));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let case = raw
            .case
            .map(|c| {
                if c.start >= c.end {
                    return Err(err(format!(
                        "case: start {} is not before end {}",
                        c.start, c.end
                    )));
                }
                match (c.kind, c.symbols.len()) {
                    (CaseKind::Instruments, 0) => {}
                    (CaseKind::Instruments, _) => {
                        return Err(err("case: an instruments case has no symbols".into()));
                    }
                    (_, 0) => return Err(err("case: symbols is empty".into())),
                    (CaseKind::Series, 1) => {}
                    (CaseKind::Series, _) => {
                        return Err(err(
                            "case: a series case has one symbol, the series id".into()
                        ));
                    }
                    _ => {}
                }
                let timeframe = match (c.kind, c.timeframe) {
                    (CaseKind::Bars, Some(t)) => t,
                    (CaseKind::Bars, None) => {
                        return Err(err("case: timeframe is missing".into()));
                    }
                    (_, None) => Timeframe::new(mdhost_core::domain::TimeUnit::Day, 1),
                    (kind, Some(_)) => {
                        let kind = match kind {
                            CaseKind::Series => "a series",
                            CaseKind::Instruments => "an instruments",
                            _ => "an actions",
                        };
                        return Err(err(format!("case: {kind} case has no timeframe")));
                    }
                };
                Ok(CaseSpec {
                    kind: c.kind,
                    request: BarsRequest {
                        symbols: c.symbols,
                        timeframe,
                        start: c.start,
                        end: c.end,
                        cursor: c.cursor,
                    },
                    asset_class: c.asset_class,
                    expect: c.expect,
                })
            })
            .transpose()?;
        let mut exchanges = Vec::with_capacity(raw.exchanges.len());
        for (i, x) in raw.exchanges.into_iter().enumerate() {
            exchanges.push(exchange(x, i, dir).map_err(err)?);
        }
        let streams = raw
            .streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| s.validate(i))
            .collect::<Result<_, _>>()
            .map_err(err)?;
        Ok(Cassette {
            file: path.to_owned(),
            description: raw.description,
            case,
            exchanges,
            streams,
        })
    }

    /// The cassette as YAML text.
    pub fn to_yaml(&self) -> Result<String, CassetteError> {
        let raw = RawCassette {
            version: FORMAT_VERSION,
            description: self.description.clone(),
            case: self.case.as_ref().map(|c| RawCase {
                kind: c.kind,
                symbols: c.request.symbols.clone(),
                timeframe: c.kind.is_bars().then_some(c.request.timeframe),
                start: c.request.start,
                end: c.request.end,
                cursor: c.request.cursor.clone(),
                asset_class: c.asset_class,
                expect: c.expect.clone(),
            }),
            exchanges: self.exchanges.iter().map(raw_exchange).collect(),
            streams: self.streams.iter().map(StreamSession::to_raw).collect(),
        };
        serde_norway::to_string(&raw)
            .map_err(|e| CassetteError::new(&self.file, format!("cannot serialize: {e}")))
    }

    /// Writes the cassette to `path`: beside, then renamed, so a reader never sees half a file.
    pub fn save(&self, path: &Path) -> Result<(), CassetteError> {
        let text = self.to_yaml()?;
        write_atomically(path, text.as_bytes())
            .map_err(|e| CassetteError::new(path, format!("cannot write: {e}")))
    }
}

/// Writes `bytes` to a temporary file beside `path`, then renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn exchange(x: RawExchange, i: usize, dir: &Path) -> Result<Exchange, String> {
    let what = format!("exchanges[{i}]");
    let req_body = one_body(
        x.request.body,
        x.request.body_base64,
        None,
        dir,
        &format!("{what}.request"),
    )?;
    if url::Url::parse(&x.request.url).is_err() {
        return Err(format!(
            "{what}.request.url: {:?} is not an absolute URL",
            x.request.url
        ));
    }
    let request = HttpRequest {
        method: x.request.method,
        url: x.request.url,
        headers: x.request.headers,
        body: (!req_body.bytes.is_empty()).then_some(req_body.bytes),
    };
    let answer = match (x.response, x.fault) {
        (Some(r), None) => {
            let body = one_body(
                r.body,
                r.body_base64,
                r.body_file,
                dir,
                &format!("{what}.response"),
            )?;
            Answer::Response(RecordedResponse {
                status: r.status,
                headers: r.headers,
                body,
                truncate: r.truncate,
            })
        }
        (None, Some(f)) => Answer::Fault(f),
        (None, None) => return Err(format!("{what}: needs a `response` or a `fault`")),
        (Some(_), Some(_)) => {
            return Err(format!(
                "{what}: has both a `response` and a `fault`; an exchange answers with one"
            ));
        }
    };
    let delay = x
        .delay
        .map(|d| {
            humantime::parse_duration(&d)
                .map_err(|e| format!("{what}.delay: {d:?} is not a duration such as 2s: {e}"))
        })
        .transpose()?;
    Ok(Exchange {
        source: x.source,
        request,
        answer,
        delay,
    })
}

fn raw_exchange(x: &Exchange) -> RawExchange {
    let (body, body_base64) = encode_body(x.request.body.as_deref().unwrap_or_default());
    let request = RawRequest {
        method: x.request.method.clone(),
        url: x.request.url.clone(),
        headers: x.request.headers.clone(),
        body,
        body_base64,
    };
    let (response, fault) = match &x.answer {
        Answer::Response(r) => {
            let (body, body_base64) = match &r.body.file {
                Some(_) => (None, None),
                None => encode_body(&r.body.bytes),
            };
            let raw = RawResponse {
                status: r.status,
                headers: r.headers.clone(),
                body,
                body_base64,
                body_file: r.body.file.clone(),
                truncate: r.truncate,
            };
            (Some(raw), None)
        }
        Answer::Fault(f) => (None, Some(*f)),
    };
    RawExchange {
        source: x.source.clone(),
        request,
        response,
        fault,
        delay: x.delay.map(|d| humantime::format_duration(d).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Cassette, String> {
        Cassette::parse(text, Path::new("t/case.yaml")).map_err(|e| e.to_string())
    }

    /// Checks that `text` parses, or fails with a message containing `expected`.
    fn check(text: &str, expected: Result<(), &str>) {
        match (parse(text), expected) {
            (Ok(_), Ok(())) => {}
            (Err(m), Err(frag)) => assert!(m.contains(frag), "{m:?} lacks {frag:?}"),
            (got, want) => panic!("{text}\ngot {got:?}, want {want:?}"),
        }
    }

    const HEAD: &str = "version: 1\n";

    #[test]
    fn parses_exchanges_faults_and_cases() {
        let c = parse(
            "version: 1
case:
  symbols: [AAPL]
  timeframe: 1d
  start: 2024-01-02T00:00:00Z
  end: 2024-01-03T00:00:00Z
  expect: {error: rate-limited}
exchanges:
  - source: synthetic
    request: {method: GET, url: 'https://h.example/a?x=1'}
    response:
      status: 429
      headers: ['retry-after: 20', [x-pair, 'a: b']]
      body: slow down
  - request: {method: GET, url: 'https://h.example/a?x=1'}
    fault: timeout
    delay: 1s 500ms
  - request: {method: POST, url: 'https://h.example/b', body_base64: 'AAEC'}
    response: {status: 200, body_base64: \"aGVs\\nbG8=\", truncate: 3}
",
        )
        .unwrap();
        let case = c.case.unwrap();
        assert_eq!(case.request.symbols, ["AAPL"]);
        assert_eq!(case.expect.error.as_deref(), Some("rate-limited"));
        assert_eq!(c.exchanges.len(), 3);
        assert_eq!(c.exchanges[0].source.as_deref(), Some("synthetic"));
        match &c.exchanges[0].answer {
            Answer::Response(r) => assert_eq!(
                r.headers,
                [
                    ("retry-after".to_owned(), "20".to_owned()),
                    ("x-pair".to_owned(), "a: b".to_owned())
                ]
            ),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.exchanges[1].answer, Answer::Fault(Fault::Timeout));
        assert_eq!(c.exchanges[1].delay, Some(Duration::from_millis(1500)));
        assert_eq!(
            c.exchanges[2].request.body.as_deref(),
            Some(&[0u8, 1, 2][..])
        );
        match &c.exchanges[2].answer {
            Answer::Response(r) => assert_eq!(r.delivered_body(), b"hel"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_cassettes_name_the_file_and_the_problem() {
        check(HEAD, Ok(()));
        let case = |body: &str| {
            format!(
                "version: 1\ncase: {{symbols: [AAPL], start: 2020-01-01T00:00:00Z, end: 2020-02-01T00:00:00Z{body}}}\n"
            )
        };
        check(&case(", kind: actions"), Ok(()));
        check(&case(", timeframe: 1d"), Ok(()));
        check(&case(""), Err("case: timeframe is missing"));
        check(
            &case(", kind: actions, timeframe: 1d"),
            Err("case: an actions case has no timeframe"),
        );
        check(&case(", kind: quotes"), Err("unknown variant `quotes`"));
        check(
            &case(", kind: series, timeframe: 1d"),
            Err("case: a series case has no timeframe"),
        );
        check(&case(", kind: series"), Ok(()));
        check(
            &case(", kind: instruments"),
            Err("case: an instruments case has no symbols"),
        );
        check("version: 2\n", Err("t/case.yaml: format version 2"));
        check("version: 1\nexchanges: [", Err("t/case.yaml: line"));
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    response: {stauts: 200}\n",
            Err("unknown field `stauts`"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/', headers: [nocolon]}\n    fault: reset\n",
            Err("header \"nocolon\" is not `name: value`"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n",
            Err("exchanges[0]: needs a `response` or a `fault`"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    fault: reset\n    response: {status: 200}\n",
            Err("has both"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    fault: melt\n",
            Err("unknown variant `melt`"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: '/relative'}\n    fault: reset\n",
            Err("not an absolute URL"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    response: {status: 200, body_file: nope.json}\n",
            Err("body_file t/nope.json"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    response: {status: 200, body: a, body_base64: YQ==}\n",
            Err("give the body once"),
        );
        check(
            "version: 1\nexchanges:\n  - request: {method: GET, url: 'https://h/'}\n    fault: reset\n    delay: soon\n",
            Err("exchanges[0].delay: \"soon\""),
        );
        check(
            "version: 1\ncase: {symbols: [A], timeframe: 7x, start: 2024-01-02T00:00:00Z, end: 2024-01-03T00:00:00Z}\n",
            Err("invalid timeframe"),
        );
        check(
            "version: 1\ncase: {symbols: [A], timeframe: 1d, start: 2024-01-03T00:00:00Z, end: 2024-01-03T00:00:00Z}\n",
            Err("is not before end"),
        );
    }

    #[test]
    fn round_trips_text_and_binary_bodies() {
        let c = Cassette {
            file: PathBuf::from("mem.yaml"),
            description: Some("round trip".into()),
            case: None,
            exchanges: vec![
                Exchange {
                    source: Some("recorded".into()),
                    request: HttpRequest {
                        method: "GET".into(),
                        url: "https://h.example/q?apikey={{secret:api_key}}".into(),
                        headers: vec![("accept".into(), "application/json".into())],
                        body: None,
                    },
                    answer: Answer::Response(RecordedResponse {
                        status: 200,
                        headers: vec![],
                        // Leading spaces, tabs, a trailing newline and quotes must survive.
                        body: Body {
                            bytes: b"{\n\t\"a\": \"1.50\" \n}\n".to_vec(),
                            file: None,
                        },
                        truncate: None,
                    }),
                    delay: Some(Duration::from_millis(250)),
                },
                Exchange {
                    source: None,
                    request: HttpRequest {
                        method: "POST".into(),
                        url: "https://h.example/b".into(),
                        headers: vec![],
                        body: Some(vec![0xff, 0x00]),
                    },
                    answer: Answer::Fault(Fault::Reset),
                    delay: None,
                },
            ],
            streams: vec![],
        };
        let text = c.to_yaml().unwrap();
        let back = Cassette::parse(&text, Path::new("mem.yaml")).unwrap();
        assert_eq!(back, c, "{text}");
    }
}
