//! Binance's error answers, `{"code": -1121, "msg": "Invalid symbol."}`, and the HTTP
//! statuses Binance gives its own meaning, classified as `provider-error`s. The REST
//! endpoint and the stream share the codes.

use mdhost_sdk::http::{Response, snippet};
use mdhost_sdk::{ProviderError, decode_json};
use serde::Deserialize;

/// An error body. The stream nests the same pair under `"error"`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub code: i64,
    pub msg: String,
}

/// Classifies the statuses whose meaning is Binance's, then the shared ones: 418 is the
/// automatic IP ban that follows ignored 429s (its `Retry-After` says how long it lasts),
/// 451 refuses a restricted location, which no retry changes. 403, a broken WAF rule,
/// stays `unauthorized` as the SDK classifies it: an operator has to look.
pub fn check_status(resp: Response) -> Result<Response, ProviderError> {
    match resp.status {
        418 => Err(ProviderError::RateLimited(resp.retry_after())),
        451 => Err(ProviderError::Unauthorized(format!(
            "Binance refuses this location (HTTP 451): {}",
            resp.snippet()
        ))),
        _ => resp.check_common(),
    }
}

/// The error of a non-2xx response that [`check_status`] let through (4xx). `symbol` is the
/// canonical symbol of the request, named by `unknown-symbol`.
pub fn from_response(status: u16, body: &[u8], symbol: &str) -> ProviderError {
    match decode_json::<ErrorBody>(body) {
        Ok(e) => classify(e.code, &e.msg, Some(symbol)),
        Err(_) => ProviderError::BadResponse(format!("HTTP {status}: {}", snippet(body))),
    }
}

/// The provider-error of a Binance error code. `symbol` is the canonical symbol the
/// request was about, when there is exactly one.
pub fn classify(code: i64, msg: &str, symbol: Option<&str>) -> ProviderError {
    let words = || format!("Binance error {code}: {msg}");
    match code {
        // INVALID_SYMBOL (REST) names the one symbol asked for.
        -1121 => match symbol {
            Some(s) => ProviderError::UnknownSymbol(s.to_owned()),
            None => ProviderError::Unsupported(words()),
        },
        // TOO_MANY_REQUESTS, TOO_MANY_ORDERS: Binance gives no wait time in the body.
        -1003 | -1015 => ProviderError::RateLimited(None),
        // UNAUTHORIZED, INVALID_SIGNATURE, BAD_API_KEY_FMT, REJECTED_MBX_KEY: market data
        // needs no key, so these mean the host sent one it should not have.
        -1002 | -1022 | -2014 | -2015 => ProviderError::Unauthorized(words()),
        // UNKNOWN, DISCONNECTED, UNEXPECTED_RESP, TIMEOUT, SERVER_BUSY: Binance's side.
        -1000 | -1001 | -1006 | -1007 | -1008 => ProviderError::Transient(words()),
        // The rest (-11xx and the stream's 0-3) reject the request's form: sending it again
        // cannot help.
        _ => ProviderError::Unsupported(words()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVALID_SYMBOL: &[u8] =
        include_bytes!("../testdata/error_invalid_symbol_docs_example.json");

    /// Checks the error a response becomes: first the status check, then the body.
    fn check(r: Response, expected: ProviderError) {
        let got = match check_status(r) {
            Ok(r) => from_response(r.status, &r.body, "BTC/USDT"),
            Err(e) => e,
        };
        assert_eq!(got, expected);
    }

    #[test]
    fn classifies_statuses_and_codes() {
        use ProviderError::*;
        check(
            Response::new(400, &[], INVALID_SYMBOL),
            UnknownSymbol("BTC/USDT".into()),
        );
        // Synthetic bodies below, in the documented `{"code", "msg"}` shape.
        check(
            Response::new(
                429,
                &[("Retry-After", "37")],
                br#"{"code":-1003,"msg":"Too many requests"}"#,
            ),
            RateLimited(Some(37)),
        );
        check(
            Response::new(418, &[("retry-after", "120")], b""),
            RateLimited(Some(120)),
        );
        check(
            Response::new(400, &[], br#"{"code":-1120,"msg":"Invalid interval."}"#),
            Unsupported("Binance error -1120: Invalid interval.".into()),
        );
        check(
            Response::new(
                400,
                &[],
                br#"{"code":-1003,"msg":"Too much request weight used"}"#,
            ),
            RateLimited(None),
        );
        check(
            Response::new(503, &[], b"Service Unavailable"),
            Transient("HTTP 503: Service Unavailable".into()),
        );
        check(
            Response::new(404, &[], b"<html>"),
            BadResponse("HTTP 404: <html>".into()),
        );
        assert!(matches!(
            check_status(Response::new(451, &[], b"{}")),
            Err(Unauthorized(_))
        ));
        assert!(matches!(
            check_status(Response::new(403, &[], b"")),
            Err(Unauthorized(_))
        ));
        assert!(check_status(Response::new(200, &[], b"[]")).is_ok());
    }

    #[test]
    fn stream_codes_name_no_symbol() {
        assert!(matches!(
            classify(-1121, "Invalid symbol.", None),
            ProviderError::Unsupported(_)
        ));
        assert!(matches!(
            classify(2, "Invalid request", None),
            ProviderError::Unsupported(_)
        ));
        assert!(matches!(
            classify(-1001, "Internal error", None),
            ProviderError::Transient(_)
        ));
        assert!(matches!(
            classify(-2015, "Invalid API-key", None),
            ProviderError::Unauthorized(_)
        ));
    }
}
