//! The stream capability: a plugin's connection plan and every reply it asks the host to
//! send pass the same allowlist and secret rules as `http.send`. A WebSocket URL is judged
//! as its HTTP twin (`wss` as `https`, `ws` as plain `http`, which the operator must allow).

use super::PluginCaps;
use super::grant::Denial;
use super::secrets::Place;
use mdhost_core::domain::{StreamPlan, StreamTransport};

/// A plan ready for the wire: secrets substituted, host checked.
#[derive(Clone, PartialEq, Eq)]
pub struct WirePlan {
    pub transport: StreamTransport,
    /// The URL with secrets in it: only the transport sees it.
    pub url: String,
    /// The URL as planned (placeholders intact): what logs show.
    pub shown_url: String,
    /// The host the connection goes to; replies are checked against it.
    pub host: String,
    pub headers: Vec<(String, String)>,
    pub on_open: Vec<String>,
}

impl std::fmt::Debug for WirePlan {
    /// Never prints the substituted URL, headers or messages: they may hold secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WirePlan")
            .field("transport", &self.transport)
            .field("url", &self.shown_url)
            .finish_non_exhaustive()
    }
}

/// The HTTP URL the grant judges for a planned stream URL.
fn as_http(transport: StreamTransport, url: &str) -> Result<String, Denial> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| Denial(format!("invalid stream URL {url:?}: no scheme")))?;
    let scheme = scheme.to_ascii_lowercase();
    let http = match (transport, scheme.as_str()) {
        (StreamTransport::Websocket, "wss") => "https",
        (StreamTransport::Websocket, "ws") => "http",
        (StreamTransport::HttpLines, "https" | "http") => scheme.as_str(),
        (StreamTransport::Websocket, other) => {
            return Err(Denial(format!(
                "a websocket stream needs a wss:// (or ws://) URL, not {other}://"
            )));
        }
        (StreamTransport::HttpLines, other) => {
            return Err(Denial(format!(
                "an http-lines stream needs an https:// (or http://) URL, not {other}://"
            )));
        }
    };
    Ok(format!("{http}://{rest}"))
}

impl PluginCaps {
    /// Checks `plan` against the grant and substitutes its secrets.
    pub fn stream_plan(&self, plan: &StreamPlan) -> Result<WirePlan, Denial> {
        let checked = self.grant.check(&as_http(plan.transport, &plan.url)?)?;
        super::grant::check_headers(&plan.headers)?;
        let host = checked.host_str().unwrap_or_default().to_owned();
        let url = self.secrets.substitute(&plan.url, &host, Place::Url)?;
        let headers = plan
            .headers
            .iter()
            .map(|(k, v)| Ok((k.clone(), self.secrets.substitute(v, &host, Place::Header)?)))
            .collect::<Result<_, Denial>>()?;
        let on_open = plan
            .on_open
            .iter()
            .map(|m| self.stream_reply(&host, m))
            .collect::<Result<_, _>>()?;
        Ok(WirePlan {
            transport: plan.transport,
            url,
            shown_url: super::log::tidy(&plan.url, &self.secrets, super::log::MAX_LINE),
            host,
            headers,
            on_open,
        })
    }

    /// A message the plugin asks to send on a connection to `host`, secrets substituted.
    pub fn stream_reply(&self, host: &str, text: &str) -> Result<String, Denial> {
        self.secrets.substitute(text, host, Place::Body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(transport: StreamTransport, url: &str, expected: Result<&str, &str>) {
        let got = as_http(transport, url);
        match expected {
            Ok(want) => assert_eq!(got.as_deref().ok(), Some(want), "{url}"),
            Err(frag) => {
                let e = got.expect_err(url).0;
                assert!(e.contains(frag), "{e:?} lacks {frag:?}");
            }
        }
    }

    #[test]
    fn stream_urls_are_judged_as_their_http_twins() {
        use StreamTransport::*;
        check(
            Websocket,
            "wss://socket.polygon.io/stocks",
            Ok("https://socket.polygon.io/stocks"),
        );
        check(Websocket, "WS://127.0.0.1:9/s", Ok("http://127.0.0.1:9/s"));
        check(
            HttpLines,
            "https://stream-fxtrade.oanda.com/v3",
            Ok("https://stream-fxtrade.oanda.com/v3"),
        );
        check(
            Websocket,
            "https://socket.polygon.io/",
            Err("needs a wss://"),
        );
        check(HttpLines, "wss://x/", Err("needs an https://"));
        check(Websocket, "socket.polygon.io", Err("no scheme"));
    }
}
