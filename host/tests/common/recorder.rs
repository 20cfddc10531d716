//! A transport that answers every request with one body and keeps the URLs asked for: a
//! plugin run on a real provider body without a server.

use std::sync::{Arc, Mutex};

use mdhost::net::{HttpRequest, HttpResponse, Transport, TransportError, transport::SendFuture};

pub struct Recorder {
    pub body: Vec<u8>,
    pub urls: Mutex<Vec<String>>,
}

impl Recorder {
    pub fn new(body: Vec<u8>) -> Arc<Self> {
        Arc::new(Recorder {
            body,
            urls: Mutex::default(),
        })
    }
}

impl Transport for Recorder {
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        _wire: &'a HttpRequest,
        _timeout: std::time::Duration,
        _max_body: usize,
    ) -> SendFuture<'a> {
        self.urls.lock().unwrap().push(as_built.url.clone());
        let body = self.body.clone();
        Box::pin(async move {
            Ok(HttpResponse {
                status: 200,
                headers: vec![],
                body,
            })
        })
    }
}

/// What a [`Router`] answers a request with, given its URL.
pub type Answer = dyn Fn(&str) -> Result<HttpResponse, TransportError> + Send + Sync;

/// A transport that answers each request as `answer` says (a provider up, down or
/// rate-limited, whichever the test sets), and keeps the URLs asked for.
pub struct Router {
    answer: Box<Answer>,
    pub urls: Mutex<Vec<String>>,
}

impl Router {
    pub fn new(
        answer: impl Fn(&str) -> Result<HttpResponse, TransportError> + Send + Sync + 'static,
    ) -> Arc<Self> {
        Arc::new(Router {
            answer: Box::new(answer),
            urls: Mutex::default(),
        })
    }

    /// The URLs asked for on `host`, in order.
    pub fn asked(&self, host: &str) -> Vec<String> {
        let prefix = format!("https://{host}/");
        let urls = self.urls.lock().unwrap();
        urls.iter()
            .filter(|u| u.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

impl Transport for Router {
    fn send<'a>(
        &'a self,
        as_built: &'a HttpRequest,
        _wire: &'a HttpRequest,
        _timeout: std::time::Duration,
        _max_body: usize,
    ) -> SendFuture<'a> {
        self.urls.lock().unwrap().push(as_built.url.clone());
        let answer = (self.answer)(&as_built.url);
        Box::pin(async move { answer })
    }
}
