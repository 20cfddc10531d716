//! The admin API's one error shape, `{"error":{"code":"…","message":"…"}}`, with a stable
//! code per HTTP status. Internal errors are logged here and answered with a generic
//! message, so no database or file detail leaves the process.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::jobs::TriggerError;
use crate::store::StoreError;

/// An error answer of the admin API. The message is shown to the client as it is, except
/// for [`ApiError::Internal`], whose detail only goes to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unavailable(String),
    /// No key, an unknown one or a revoked one (the read API).
    #[error("{0}")]
    Unauthorized(String),
    /// A key whose scope does not cover what was asked.
    #[error("{0}")]
    Forbidden(String),
    /// A key past its rate: the seconds until its next window.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: u64 },
    /// Already logged where it was made (see [`ApiError::internal`]).
    #[error("internal error")]
    Internal,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'static str,
    message: &'a str,
}

/// What a 500 says instead of the error itself.
const INTERNAL_MESSAGE: &str = "internal error; the service log has the details";

impl ApiError {
    /// Logs `error` with what was being done, and answers a generic 500.
    pub fn internal(doing: &str, error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "admin API: {doing} failed");
        ApiError::Internal
    }

    /// A store failure: 503 when the store cannot be reached (retrying later helps),
    /// otherwise 500. Either way the database's own message is only logged.
    pub fn store(doing: &str, error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(error = %error, "admin API: {doing}: the store is unavailable");
            ApiError::Unavailable("the store is unavailable; try again later".into())
        } else {
            ApiError::internal(doing, error)
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Internal => "internal",
        }
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        let message = e.to_string();
        match e {
            TriggerError::UnknownJob(_) => ApiError::NotFound(message),
            TriggerError::AlreadyRunning(_) => ApiError::Conflict(message),
            TriggerError::ShuttingDown | TriggerError::Standby => ApiError::Unavailable(message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Internal => INTERNAL_MESSAGE.to_owned(),
            other => other.to_string(),
        };
        let body = Body {
            error: Detail {
                code: self.code(),
                message: &message,
            },
        };
        let mut response = (self.status(), Json(body)).into_response();
        if let ApiError::TooManyRequests { retry_after, .. } = &self
            && let Ok(v) = axum::http::HeaderValue::from_str(&retry_after.to_string())
        {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, v);
        }
        if let ApiError::Unauthorized(_) = &self {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn check(error: ApiError, status: u16, body: &str) {
        let response = error.into_response();
        assert_eq!(response.status().as_u16(), status);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(std::str::from_utf8(&bytes).unwrap(), body);
    }

    #[tokio::test]
    async fn every_error_has_a_stable_code_and_the_same_shape() {
        check(
            ApiError::NotFound("no route".into()),
            404,
            r#"{"error":{"code":"not_found","message":"no route"}}"#,
        )
        .await;
        check(
            ApiError::BadRequest("parameter `from`: bad".into()),
            400,
            r#"{"error":{"code":"bad_request","message":"parameter `from`: bad"}}"#,
        )
        .await;
        check(
            TriggerError::AlreadyRunning("daily".into()).into(),
            409,
            r#"{"error":{"code":"conflict","message":"job \"daily\" is already running"}}"#,
        )
        .await;
        check(
            TriggerError::ShuttingDown.into(),
            503,
            r#"{"error":{"code":"unavailable","message":"the service is shutting down"}}"#,
        )
        .await;
        check(
            TriggerError::UnknownJob("nope".into()).into(),
            404,
            r#"{"error":{"code":"not_found","message":"no job is named \"nope\""}}"#,
        )
        .await;
    }

    #[tokio::test]
    async fn internal_errors_say_nothing_about_the_cause() {
        check(
            ApiError::internal("reading bars", "password authentication failed for user x"),
            500,
            r#"{"error":{"code":"internal","message":"internal error; the service log has the details"}}"#,
        ).await;
    }
}
