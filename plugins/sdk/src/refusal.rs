//! A provider's refusals read from a table: where its error bodies keep the message, and
//! what the message means. Most providers explain a refused request in a JSON member and
//! mean one of a few things by it; a plugin writes those down instead of a classifier.

use serde_json::Value;

use crate::ProviderError;
use crate::http::{Response, snippet};

/// What a refusal means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Means {
    /// The symbol asked for is not one the provider knows.
    UnknownSymbol,
    /// The credentials, or the operator's plan, do not allow the request.
    Unauthorized,
    /// The request itself cannot be served: asking again will not help.
    Unsupported,
    /// An answer this plugin cannot read.
    Bad,
}

/// One line of a table: the status it applies to (0: any), words the message contains
/// (empty: any message, or none), and what that means.
pub type Rule = (u16, &'static str, Means);

/// How one provider refuses.
#[derive(Debug)]
pub struct Refusals {
    /// The provider's name, which the errors' messages start with.
    pub provider: &'static str,
    /// Where an error body keeps its message, as JSON pointers tried in order
    /// (`"/message"`, `"/status/error_message"`).
    pub message_at: &'static [&'static str],
    /// The first rule that applies decides. When none does, a 4xx with a message is the
    /// provider refusing the request (`unsupported`), anything else a bad response.
    pub rules: &'static [Rule],
}

impl Refusals {
    /// A 2xx response as it came; 401/403, 429 and 5xx classified as every provider's
    /// are ([`Response::check_common`]); any other status the error the table says.
    pub fn check(&self, resp: Response, symbol: &str) -> Result<Response, ProviderError> {
        let resp = resp.check_common()?;
        if (200..300).contains(&resp.status) {
            return Ok(resp);
        }
        Err(self.read(resp.status, &resp.body, symbol))
    }

    /// The message of an error body, if it has one where the table says.
    pub fn message(&self, body: &[u8]) -> Option<String> {
        let value: Value = serde_json::from_slice(body).ok()?;
        self.message_at
            .iter()
            .find_map(|at| Some(value.pointer(at)?.as_str()?.to_owned()))
    }

    /// The error a refusal with `status` and `body` means; `symbol` is the one asked for.
    pub fn read(&self, status: u16, body: &[u8], symbol: &str) -> ProviderError {
        let message = self.message(body);
        let applies = |&&(s, words, _): &&Rule| {
            (s == 0 || s == status)
                && (words.is_empty() || message.as_deref().is_some_and(|m| m.contains(words)))
        };
        let means = match (self.rules.iter().find(applies), &message) {
            (Some(&(_, _, means)), _) => means,
            (None, Some(_)) if (400..500).contains(&status) => Means::Unsupported,
            (None, _) => Means::Bad,
        };
        let text = message.unwrap_or_else(|| snippet(body));
        let provider = self.provider;
        match means {
            Means::UnknownSymbol => ProviderError::UnknownSymbol(symbol.to_owned()),
            Means::Unauthorized => {
                ProviderError::Unauthorized(format!("{provider} (HTTP {status}): {text}"))
            }
            Means::Unsupported => ProviderError::Unsupported(format!(
                "{provider} refused the request (HTTP {status}): {text}"
            )),
            Means::Bad => ProviderError::BadResponse(format!("HTTP {status}: {text}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: Refusals = Refusals {
        provider: "FRED",
        message_at: &["/error_message", "/status/message"],
        rules: &[
            (0, "api_key", Means::Unauthorized),
            (0, "series", Means::UnknownSymbol),
            (404, "", Means::UnknownSymbol),
            (400, "vs_currency", Means::Bad),
        ],
    };

    fn check(status: u16, body: &str, expected: Result<&str, ProviderError>) {
        let resp = Response::new(status, &[], body);
        let got = TABLE
            .check(resp, "GDP")
            .map(|r| String::from_utf8(r.body).unwrap());
        assert_eq!(got, expected.map(str::to_owned), "{status} {body}");
    }

    #[test]
    fn the_first_rule_that_applies_decides() {
        let unsupported = |m: &str| Err(ProviderError::Unsupported(m.into()));
        let bad = |m: &str| Err(ProviderError::BadResponse(m.into()));
        check(200, "{}", Ok("{}"));
        check(
            400,
            r#"{"error_code":400,"error_message":"Bad Request.  The value for variable api_key is not registered."}"#,
            Err(ProviderError::Unauthorized(
                "FRED (HTTP 400): Bad Request.  The value for variable api_key is not registered."
                    .into(),
            )),
        );
        check(
            400,
            r#"{"error_message":"Bad Request.  The series does not exist."}"#,
            Err(ProviderError::UnknownSymbol("GDP".into())),
        );
        // The second pointer, when the first is absent.
        check(
            400,
            r#"{"status":{"message":"limit is too large"}}"#,
            unsupported("FRED refused the request (HTTP 400): limit is too large"),
        );
        // A rule on the status alone applies without a message.
        check(
            404,
            "Not Found",
            Err(ProviderError::UnknownSymbol("GDP".into())),
        );
        check(
            400,
            r#"{"error_message":"invalid vs_currency"}"#,
            bad("HTTP 400: invalid vs_currency"),
        );
        // No message, or not a 4xx: a bad response.
        check(400, "<html>oops</html>", bad("HTTP 400: <html>oops</html>"));
        check(302, r#"{"error_message":"moved"}"#, bad("HTTP 302: moved"));
        // The statuses every provider shares are the SDK's, before the table.
        check(429, "{}", Err(ProviderError::RateLimited(None)));
        assert!(matches!(
            TABLE.check(Response::new(503, &[], "x"), "GDP"),
            Err(ProviderError::Transient(_))
        ));
    }
}
