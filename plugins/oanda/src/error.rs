//! OANDA's error answers, `{"errorMessage": "…"}` with an optional `errorCode`, classified
//! as `provider-error`s: from a REST response (status and body) or from a stream line
//! (the message alone).

use mdhost_sdk::ProviderError;
use mdhost_sdk::http::Response;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(rename = "errorMessage")]
    error_message: String,
}

/// The `errorMessage` of a body, when it has one.
pub fn message(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<ErrorBody>(body)
        .ok()
        .map(|b| b.error_message)
}

/// Whether a message is about the instrument(s) of the request: OANDA answers an unknown
/// instrument with "Invalid value specified for 'instrument'" (`'instruments'` on the
/// pricing endpoints), and names a nested field by its path ("Invalid value specified for
/// 'order.instrument'"), so the quoted field's last segment is what counts.
fn names_instrument(message: &str) -> bool {
    // The pieces at odd positions of a split on quotes are the quoted field names.
    message.split('\'').skip(1).step_by(2).any(|field| {
        let last = field.rsplit('.').next().unwrap_or(field);
        matches!(last, "instrument" | "instruments")
    })
}

/// Whether a message is OANDA's refusal of a time later than its clock. For `from` that
/// only means there are no candles there yet.
pub fn is_time_in_future(message: &str) -> bool {
    message.contains("Time is in the future")
}

/// The error of a non-2xx response. `symbol` is the canonical symbol of the request.
///
/// OANDA's words are kept where it gives them: 401 (bad or missing token, "Insufficient
/// authorization to perform request.") and 403 ("The provided request was forbidden.", a
/// wrong account) are `unauthorized`; a 400/404 about the instrument is `unknown-symbol`;
/// other 4xx reject the request itself. 429 and 5xx are classified as the SDK does.
pub fn from_response(resp: Response, symbol: &str) -> ProviderError {
    let status = resp.status;
    match (status, message(&resp.body)) {
        (401 | 403, Some(m)) => ProviderError::Unauthorized(format!("OANDA (HTTP {status}): {m}")),
        (400 | 404, Some(m)) if names_instrument(&m) => {
            ProviderError::UnknownSymbol(symbol.to_owned())
        }
        (400..=428 | 430..=499, Some(m)) => {
            ProviderError::Unsupported(format!("OANDA refused the request (HTTP {status}): {m}"))
        }
        _ => match resp.check_common() {
            Err(e) => e,
            Ok(resp) => {
                ProviderError::BadResponse(format!("HTTP {}: {}", resp.status, resp.snippet()))
            }
        },
    }
}

/// The error of a stream line that carries only a message. `only` is the canonical symbol
/// when the connection has exactly one, so that an instrument error can name it.
pub fn from_message(message: &str, only: Option<&str>) -> ProviderError {
    let lower = message.to_ascii_lowercase();
    if lower.contains("authoriz") || lower.contains("forbidden") {
        return ProviderError::Unauthorized(format!("OANDA: {message}"));
    }
    if names_instrument(message) {
        return match only {
            Some(symbol) => ProviderError::UnknownSymbol(symbol.to_owned()),
            None => ProviderError::Unsupported(format!("OANDA: {message}")),
        };
    }
    // Nothing says the request itself is at fault: worth another connection later.
    ProviderError::Transient(format!("OANDA: {message}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProviderError::*;

    fn check(r: Response, expected: ProviderError) {
        assert_eq!(from_response(r, "EUR/USD"), expected);
    }

    #[test]
    fn classifies_rest_errors() {
        // The messages are OANDA's documented texts (developer.oanda.com, "Troubleshooting
        // & Errors"); the bodies around them are synthetic.
        check(
            Response::new(
                400,
                &[],
                r#"{"errorMessage":"Invalid value specified for 'instrument'"}"#,
            ),
            UnknownSymbol("EUR/USD".into()),
        );
        check(
            Response::new(
                401,
                &[],
                r#"{"errorMessage":"Insufficient authorization to perform request."}"#,
            ),
            Unauthorized("OANDA (HTTP 401): Insufficient authorization to perform request.".into()),
        );
        check(
            Response::new(
                403,
                &[],
                r#"{"errorMessage":"The provided request was forbidden."}"#,
            ),
            Unauthorized("OANDA (HTTP 403): The provided request was forbidden.".into()),
        );
        check(
            Response::new(
                400,
                &[],
                r#"{"errorCode":"x","errorMessage":"The request was missing required data"}"#,
            ),
            Unsupported(
                "OANDA refused the request (HTTP 400): The request was missing required data"
                    .into(),
            ),
        );
        check(
            Response::new(401, &[], ""),
            Unauthorized("HTTP 401: ".into()),
        );
        check(
            Response::new(
                429,
                &[("Retry-After", "2")],
                r#"{"errorMessage":"Too many requests"}"#,
            ),
            RateLimited(Some(2)),
        );
        check(
            Response::new(502, &[], "bad gateway"),
            Transient("HTTP 502: bad gateway".into()),
        );
        check(
            Response::new(400, &[], "<html>"),
            BadResponse("HTTP 400: <html>".into()),
        );
    }

    /// The real 400 of an order for an instrument OANDA does not know: the field is named
    /// by its path, and it is still the instrument that is unknown.
    #[test]
    fn an_invalid_nested_instrument_field_is_an_unknown_symbol() {
        const BODY: &str =
            include_str!("../testdata/error_400_invalid_value_order_instrument.json");
        check(
            Response::new(400, &[], BODY),
            UnknownSymbol("EUR/USD".into()),
        );
        // A field that merely starts with the word is not the instrument.
        check(
            Response::new(
                400,
                &[],
                r#"{"errorMessage":"Invalid value specified for 'instrumentType'"}"#,
            ),
            Unsupported(
                "OANDA refused the request (HTTP 400): Invalid value specified for 'instrumentType'"
                    .into(),
            ),
        );
        // Nor is a message that quotes no field.
        assert!(!names_instrument("Maximum value for 'count' exceeded"));
        assert!(!names_instrument("instrument unknown"));
    }

    #[test]
    fn classifies_stream_messages() {
        for (message, only, expected) in [
            (
                "Insufficient authorization to perform request.",
                Some("EUR/USD"),
                Unauthorized("OANDA: Insufficient authorization to perform request.".into()),
            ),
            (
                "The provided request was forbidden.",
                None,
                Unauthorized("OANDA: The provided request was forbidden.".into()),
            ),
            (
                "Invalid value specified for 'instruments'",
                Some("EUR/USD"),
                UnknownSymbol("EUR/USD".into()),
            ),
            (
                "Invalid value specified for 'instruments'",
                None,
                Unsupported("OANDA: Invalid value specified for 'instruments'".into()),
            ),
            (
                "Service unavailable",
                None,
                Transient("OANDA: Service unavailable".into()),
            ),
        ] {
            assert_eq!(from_message(message, only), expected, "{message}");
        }
        assert!(is_time_in_future(
            "Invalid value specified for 'to'. Time is in the future"
        ));
        assert!(!is_time_in_future("Invalid value specified for 'to'"));
    }
}
