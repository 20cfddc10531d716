//! A loopback webhook receiver for the alert tests: the bodies it accepted, and a switch
//! that makes it answer 503.

use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use serde_json::Value;

/// A webhook receiver: the bodies it accepted, and whether it is down (503).
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Value>>>,
    pub down: Arc<Mutex<bool>>,
}

pub async fn receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let state = r.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |body: String| {
            let state = state.clone();
            async move {
                if *state.down.lock().unwrap() {
                    return StatusCode::SERVICE_UNAVAILABLE;
                }
                state
                    .got
                    .lock()
                    .unwrap()
                    .push(serde_json::from_str(&body).unwrap());
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, r)
}
