//! A transport that answers every request with one body and keeps the URLs asked for: a
//! plugin run on a real provider body without a server.

use std::sync::{Arc, Mutex};

use mdhost::net::{HttpRequest, HttpResponse, Transport, transport::SendFuture};

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
