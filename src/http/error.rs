//! `ApiError`, the one error type of the HTTP layer, and the one place that renders the SPEC's
//! error body (`render`). actix's own errors (unknown route, wrong method, bad JSON, oversized
//! bodies) are mapped here too, so every error a client sees has the same shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Value, json};

use crate::domain::capability::Capability;
use crate::store::StoreError;

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Vec<FieldError>>,
    /// Extra top-level fields of the body (e.g. `moduleId`).
    pub extra: Option<(&'static str, String)>,
    pub retry_after: Option<u64>,
    /// The handler wrote its own audit record for this refusal; the pipeline must not add one.
    pub audited: bool,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            details: None,
            extra: None,
            retry_after: None,
            audited: false,
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, message)
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, code, message)
    }
    pub fn no_credentials() -> ApiError {
        ApiError::unauthorized("NO_CREDENTIALS", "No valid session or token found.")
    }
    pub fn invalid_token() -> ApiError {
        ApiError::unauthorized("INVALID_TOKEN", "The credential is not valid.")
    }
    pub fn token_expired() -> ApiError {
        ApiError::unauthorized("TOKEN_EXPIRED", "The credential has expired.")
    }
    pub fn token_revoked() -> ApiError {
        ApiError::unauthorized("TOKEN_REVOKED", "The credential has been revoked.")
    }
    pub fn invalid_credentials() -> ApiError {
        ApiError::unauthorized("INVALID_CREDENTIALS", "Invalid email or password.")
    }
    pub fn missing_capability(cap: Capability) -> ApiError {
        ApiError::forbidden(
            "MISSING_CAPABILITY",
            format!("This action requires the capability {}.", cap.as_str()),
        )
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "No such resource.")
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "CONFLICT", message)
    }
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("{field}: {message}"),
        );
        e.details = Some(vec![FieldError {
            field: field.into(),
            message,
        }]);
        e
    }
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "An unexpected error occurred.",
        )
    }
    pub fn db_unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "DB_UNAVAILABLE",
            "The database cannot be reached; the request was not carried out.",
        )
    }
    pub fn rate_limited(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "Too many requests; retry later.",
        );
        e.retry_after = Some(retry_after);
        e
    }
    /// 423 for a sign-in while the email is locked, with `Retry-After` until `until`.
    pub fn locked(until: crate::domain::time::Timestamp) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::LOCKED,
            "ACCOUNT_LOCKED",
            "Too many failed sign-ins: this account is temporarily locked.",
        );
        e.retry_after = Some((until - crate::domain::time::now()).num_seconds().max(1) as u64);
        e
    }
    pub fn already_audited(mut self) -> ApiError {
        self.audited = true;
        self
    }

    /// The error a status code stands for when actix produced it without an `ApiError`.
    pub fn from_status(status: StatusCode) -> ApiError {
        match status.as_u16() {
            400 => ApiError::new(status, "VALIDATION_ERROR", "The request is malformed."),
            401 => ApiError::no_credentials(),
            404 => ApiError::not_found(),
            405 => ApiError::new(
                status,
                "METHOD_NOT_ALLOWED",
                "This method is not allowed on this path.",
            ),
            413 => ApiError::new(
                status,
                "PAYLOAD_TOO_LARGE",
                "The request body is larger than 1 MiB.",
            ),
            415 => ApiError::new(
                status,
                "UNSUPPORTED_MEDIA_TYPE",
                "A request body must be sent as Content-Type: application/json.",
            ),
            s if s < 500 => {
                ApiError::new(status, "BAD_REQUEST", "The request could not be processed.")
            }
            _ => ApiError::internal(),
        }
    }

    /// The SPEC's error body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut b = json!({
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
            "code": self.code,
            "request_id": request_id,
        });
        if let Some(d) = &self.details {
            b["details"] = serde_json::to_value(d).unwrap_or(Value::Null);
        }
        if let Some((k, v)) = &self.extra {
            b[*k] = Value::String(v.clone());
        }
        b
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    /// The body is rendered by the pipeline once the request id is known; the error travels in
    /// the response's extensions until then.
    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(s) = self.retry_after {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(s)));
        }
        let mut res = res.finish();
        res.extensions_mut().insert(self.clone());
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(why) => {
                log::error!("database unavailable: {why}");
                ApiError::db_unavailable()
            }
            StoreError::NotFound => ApiError::not_found(),
            StoreError::Conflict(msg) => {
                // Constraint texts name tables and columns; keep them out of the answer.
                if msg.contains("constraint") || msg.contains("UNIQUE") {
                    ApiError::conflict("The request conflicts with existing data.")
                } else {
                    ApiError::conflict(msg)
                }
            }
            StoreError::Invalid { field, message } if field == "__forbidden_grant" => {
                ApiError::forbidden("MISSING_CAPABILITY", message)
            }
            StoreError::Invalid { field, message } => ApiError::validation(&field, message),
            StoreError::Other(why) => {
                log::error!("database error: {why}");
                ApiError::internal()
            }
        }
    }
}

/// Maps a JSON body error to 400 / 413 / 415.
pub fn json_error(err: &actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as J;
    match err {
        J::OverflowKnownLength { .. } | J::Overflow { .. } => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        J::ContentType => ApiError::from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE),
        J::Deserialize(e) => serde_error(e),
        J::Payload(actix_web::error::PayloadError::Overflow) => {
            ApiError::from_status(StatusCode::PAYLOAD_TOO_LARGE)
        }
        _ => ApiError::validation("body", "the request body could not be read"),
    }
}

/// A serde_json error as a validation error, naming the field where serde says which.
pub fn serde_error(e: &serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    let text = e.to_string();
    // serde appends " at line L column C"; it helps nobody here.
    let mut text = text.split(" at line ").next().unwrap_or(&text).to_string();
    // "invalid type: string \"...\", expected u32" would echo the caller's value (possibly a
    // password) back; keep only what was expected.
    if let Some(expected) = text.split(", expected ").nth(1)
        && (text.starts_with("invalid type")
            || text.starts_with("invalid value")
            || text.starts_with("invalid length"))
    {
        text = format!("invalid value, expected {expected}");
    }
    match e.classify() {
        Category::Data => {
            let field = text
                .split('`')
                .nth(1)
                .filter(|_| text.starts_with("unknown field") || text.starts_with("missing field"))
                .unwrap_or("body")
                .to_string();
            ApiError::validation(&field, text)
        }
        _ => ApiError::validation("body", format!("malformed JSON: {text}")),
    }
}
