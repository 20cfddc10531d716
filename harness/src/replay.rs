//! Strict replay: a `Transport` that answers each request from a cassette. A request with
//! no unused matching exchange is refused and remembered with a diff against the nearest
//! exchange; exchanges never used are reported at the end. Delays and timeouts sleep on
//! tokio's clock, so under a paused runtime they cost no wall time.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};

use super::cassette::{Answer, Cassette, Exchange, Fault};
use super::matching::{Key, diff};
use mdhost_runtime::net::transport::SendFuture;
use mdhost_runtime::net::{HttpRequest, HttpResponse, Transport, TransportError};

/// The state of one replay of one cassette.
#[derive(Default)]
struct Session {
    cassette: Arc<Cassette>,
    keys: Vec<Key>,
    used: Vec<bool>,
    log: ReplayLog,
}

/// What happened during a replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayLog {
    /// Indices of the exchanges used, in the order they were used.
    pub used: Vec<usize>,
    /// One message per distinct request that matched no exchange.
    pub misses: Vec<String>,
    /// Requests passed to the fallback transport (new-episodes recording).
    pub passed_through: usize,
}

/// Answers requests from the loaded cassette; see the module doc.
pub struct ReplayTransport {
    session: Mutex<Session>,
    /// Where unmatched requests go instead of failing (record mode `new-episodes`).
    fallback: Option<Arc<dyn Transport>>,
}

impl Default for ReplayTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl ReplayTransport {
    /// A strict replay transport with an empty cassette; `load` one before use.
    pub fn new() -> Self {
        ReplayTransport {
            session: Mutex::new(Session::default()),
            fallback: None,
        }
    }

    /// Sends unmatched requests to `fallback` instead of refusing them.
    pub fn with_fallback(fallback: Arc<dyn Transport>) -> Self {
        ReplayTransport {
            session: Mutex::new(Session::default()),
            fallback: Some(fallback),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Session> {
        self.session.lock()
    }

    /// Starts a new replay of `cassette`: every exchange unused again.
    pub fn load(&self, cassette: Arc<Cassette>) {
        let keys = cassette
            .exchanges
            .iter()
            .map(|x| Key::of(&x.request))
            .collect::<Vec<_>>();
        *self.lock() = Session {
            used: vec![false; keys.len()],
            keys,
            cassette,
            log: ReplayLog::default(),
        };
    }

    /// What happened since `load`.
    pub fn log(&self) -> ReplayLog {
        self.lock().log.clone()
    }

    /// The exchanges not used since `load`.
    pub fn unused(&self) -> Vec<usize> {
        let s = self.lock();
        (0..s.used.len()).filter(|&i| !s.used[i]).collect()
    }

    /// Failures of a strict replay: requests that matched nothing, exchanges never used.
    pub fn strict_failures(&self) -> Vec<String> {
        let s = self.lock();
        let mut out = s.log.misses.clone();
        for (i, x) in s.cassette.exchanges.iter().enumerate() {
            if !s.used[i] {
                out.push(format!(
                    "{}: exchanges[{i}] ({} {}) was never used",
                    s.cassette.file.display(),
                    x.request.method,
                    x.request.url
                ));
            }
        }
        out
    }

    /// Takes the first unused exchange matching `req`, or explains why there is none.
    fn take(&self, req: &HttpRequest) -> Result<Exchange, String> {
        let key = Key::of(req);
        let mut s = self.lock();
        if let Some(i) = (0..s.keys.len()).find(|&i| !s.used[i] && s.keys[i].distance(&key) == 0) {
            s.used[i] = true;
            s.log.used.push(i);
            return Ok(s.cassette.exchanges[i].clone());
        }
        let file = s.cassette.file.display().to_string();
        let what = format!("{} {}", req.method, req.url);
        let message = if let Some(i) = (0..s.keys.len()).find(|&i| s.keys[i].distance(&key) == 0) {
            format!(
                "{file}: {what} was sent more often than the cassette holds it (its last match, exchanges[{i}], is used up)"
            )
        } else {
            // The nearest unused exchange is the likely intended one; all are used, the
            // nearest of any.
            let candidates: Vec<usize> = match (0..s.keys.len())
                .filter(|&i| !s.used[i])
                .collect::<Vec<_>>()
            {
                v if v.is_empty() => (0..s.keys.len()).collect(),
                v => v,
            };
            match candidates
                .iter()
                .min_by_key(|&&i| (s.keys[i].distance(&key), i))
            {
                None => format!("{file}: no exchange matches {what}: the cassette has none"),
                Some(&i) => {
                    let x = &s.cassette.exchanges[i];
                    let lines = diff(&s.keys[i], &key);
                    format!(
                        "{file}: no exchange matches {what}\n  nearest is exchanges[{i}]{}: {} {}\n    {}",
                        if s.used[i] { " (already used)" } else { "" },
                        x.request.method,
                        x.request.url,
                        lines.join("\n    ")
                    )
                }
            }
        };
        if !s.log.misses.contains(&message) {
            s.log.misses.push(message.clone());
        }
        Err(message)
    }
}

/// Plays one exchange's answer.
async fn answer(
    x: Exchange,
    timeout: Duration,
    max_body: usize,
) -> Result<HttpResponse, TransportError> {
    let mut remaining = timeout;
    if let Some(d) = x.delay {
        if d >= timeout {
            tokio::time::sleep(timeout).await;
            return Err(TransportError::Timeout);
        }
        tokio::time::sleep(d).await;
        remaining -= d;
    }
    match x.answer {
        Answer::Fault(Fault::Timeout) => {
            // Silence until the time the host allowed runs out.
            tokio::time::sleep(remaining).await;
            Err(TransportError::Timeout)
        }
        Answer::Fault(Fault::Reset) => Err(TransportError::Connect(
            "connection reset by peer (scripted fault)".into(),
        )),
        Answer::Response(r) => {
            let body = r.delivered_body().to_vec();
            if body.len() > max_body {
                return Err(TransportError::TooLarge(max_body));
            }
            Ok(HttpResponse {
                status: r.status,
                headers: r.headers,
                body,
            })
        }
    }
}

impl Transport for ReplayTransport {
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        wire: &'a HttpRequest,
        timeout: Duration,
        max_body: usize,
    ) -> SendFuture<'a> {
        Box::pin(async move {
            match self.take(as_built) {
                Ok(x) => answer(x, timeout, max_body).await,
                Err(message) => match &self.fallback {
                    Some(f) => {
                        self.lock().log.misses.retain(|m| m != &message);
                        self.lock().log.passed_through += 1;
                        f.send(as_built, wire, timeout, max_body).await
                    }
                    // Only the first line reaches the plugin; the diff is in the log.
                    None => Err(TransportError::Other(format!(
                        "replay: {}",
                        message.lines().next().unwrap_or_default()
                    ))),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn cassette(text: &str) -> Arc<Cassette> {
        Arc::new(Cassette::parse(text, Path::new("c.yaml")).unwrap())
    }

    fn get(url: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            url: url.into(),
            headers: vec![],
            body: None,
        }
    }

    async fn send(t: &ReplayTransport, url: &str) -> Result<HttpResponse, TransportError> {
        let r = get(url);
        t.send(&r, &r, Duration::from_secs(10), 1 << 20).await
    }

    const TWO: &str = "version: 1
exchanges:
  - request: {method: GET, url: 'https://h.example/a?x=1&y=2'}
    response: {status: 503}
  - request: {method: GET, url: 'https://h.example/a?x=1&y=2'}
    response: {status: 200, body: ok, truncate: 1}
  - request: {method: GET, url: 'https://h.example/b'}
    fault: timeout
    delay: 1s
";

    #[tokio::test(start_paused = true)]
    async fn exchanges_answer_in_order_and_unused_ones_are_reported() {
        let t = ReplayTransport::new();
        t.load(cassette(TWO));
        assert_eq!(
            send(&t, "https://h.example/a?y=2&x=1")
                .await
                .unwrap()
                .status,
            503
        );
        let ok = send(&t, "https://h.example/a?x=1&y=2").await.unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, &b"o"[..]));
        assert_eq!(t.log().used, [0, 1]);
        assert_eq!(
            t.strict_failures(),
            ["c.yaml: exchanges[2] (GET https://h.example/b) was never used"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_unmatched_request_fails_with_a_diff_against_the_nearest() {
        let t = ReplayTransport::new();
        t.load(cassette(TWO));
        let err = send(&t, "https://h.example/a?x=1&y=3").await.unwrap_err();
        assert!(err.to_string().contains("no exchange matches"), "{err}");
        let misses = t.log().misses;
        assert_eq!(
            misses,
            [
                "c.yaml: no exchange matches GET https://h.example/a?x=1&y=3\n  nearest is exchanges[0]: GET https://h.example/a?x=1&y=2\n    query y: cassette 2, plugin 3"
            ]
        );
        // Asking more often than recorded is named as such.
        send(&t, "https://h.example/a?x=1&y=2").await.unwrap();
        send(&t, "https://h.example/a?x=1&y=2").await.unwrap();
        send(&t, "https://h.example/a?x=1&y=2").await.unwrap_err();
        assert!(t.log().misses[1].contains("more often than the cassette holds it"));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_and_timeouts_run_on_the_host_clock() {
        let t = ReplayTransport::new();
        t.load(cassette(TWO));
        let before = tokio::time::Instant::now();
        let wall = std::time::Instant::now();
        let err = send(&t, "https://h.example/b").await.unwrap_err();
        assert_eq!(err, TransportError::Timeout);
        // Silence for the 10 s the caller allowed, delay included, in virtual time only.
        assert_eq!(before.elapsed(), Duration::from_secs(10));
        assert!(wall.elapsed() < Duration::from_secs(1));
    }
}
