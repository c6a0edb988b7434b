//! `ApiError`, the one error type of the HTTP layer, and the one place that renders the SPEC's
//! error body (`render`). actix's own errors (unknown route, wrong method, bad JSON, oversized
//! bodies) are mapped here too, so every error a client sees has the same shape.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{Value, json};

use crate::domain::capability::Capability;
use crate::store::StoreError;

pub use crate::domain::error::{Code, DomainError, FieldError};

/// One field that failed validation, as documented.
#[derive(utoipa::ToSchema)]
#[schema(as = FieldError)]
#[allow(dead_code)]
pub struct FieldErrorDoc {
    pub field: String,
    pub message: String,
}

/// The error body of every failed request (SPEC §2), as documented.
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
#[allow(dead_code)]
pub struct ErrorBody {
    /// The status text, e.g. `Unauthorized`
    pub error: String,
    pub message: String,
    /// One of the codes of SPEC §2
    pub code: String,
    /// The request's `X-Correlation-ID`
    pub request_id: String,
    /// Validation errors only
    pub details: Option<Vec<FieldErrorDoc>>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: Code,
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

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        if e.code == Code::Internal {
            log::error!("internal error: {}", e.message);
            return ApiError::internal();
        }
        ApiError {
            status: StatusCode::from_u16(e.code.status())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: e.code,
            message: e.message,
            details: e.details,
            extra: e.module.map(|m| ("moduleId", m.to_string())),
            retry_after: e.retry_after,
            audited: e.audited,
        }
    }
}

impl ApiError {
    /// An error with the status SPEC §2 gives `code`.
    pub fn new(code: Code, message: impl Into<String>) -> ApiError {
        DomainError::new(code, message).into()
    }
    pub fn unauthorized(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(code, message)
    }
    pub fn forbidden(code: Code, message: impl Into<String>) -> ApiError {
        ApiError::new(code, message)
    }
    pub fn no_credentials() -> ApiError {
        ApiError::new(Code::NoCredentials, "No valid session or token found.")
    }
    pub fn invalid_token() -> ApiError {
        ApiError::new(Code::InvalidToken, "The credential is not valid.")
    }
    pub fn token_expired() -> ApiError {
        ApiError::new(Code::TokenExpired, "The credential has expired.")
    }
    pub fn token_revoked() -> ApiError {
        ApiError::new(Code::TokenRevoked, "The credential has been revoked.")
    }
    pub fn invalid_credentials() -> ApiError {
        ApiError::new(Code::InvalidCredentials, "Invalid email or password.")
    }
    pub fn missing_capability(cap: Capability) -> ApiError {
        ApiError::new(
            Code::MissingCapability,
            format!("This action requires the capability {}.", cap.as_str()),
        )
    }
    pub fn not_found() -> ApiError {
        DomainError::not_found().into()
    }
    pub fn conflict(message: impl Into<String>) -> ApiError {
        DomainError::conflict(message).into()
    }
    pub fn validation(field: &str, message: impl Into<String>) -> ApiError {
        DomainError::validation(field, message).into()
    }
    pub fn internal() -> ApiError {
        let e = DomainError::internal();
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: e.code,
            message: e.message,
            details: None,
            extra: None,
            retry_after: None,
            audited: false,
        }
    }
    pub fn db_unavailable() -> ApiError {
        DomainError::db_unavailable().into()
    }
    pub fn rate_limited(retry_after: u64) -> ApiError {
        let mut e = ApiError::new(Code::RateLimited, "Too many requests; retry later.");
        e.retry_after = Some(retry_after);
        e
    }
    pub fn already_audited(mut self) -> ApiError {
        self.audited = true;
        self
    }

    /// The error a status code stands for when actix produced it without an `ApiError`.
    pub fn from_status(status: StatusCode) -> ApiError {
        match status.as_u16() {
            400 => ApiError::new(Code::ValidationError, "The request is malformed."),
            401 => ApiError::no_credentials(),
            404 => ApiError::not_found(),
            405 => ApiError::new(
                Code::MethodNotAllowed,
                "This method is not allowed on this path.",
            ),
            413 => ApiError::new(
                Code::PayloadTooLarge,
                "The request body is larger than 1 MiB.",
            ),
            415 => ApiError::new(
                Code::UnsupportedMediaType,
                "A request body must be sent as Content-Type: application/json.",
            ),
            s if s < 500 => {
                let mut e =
                    ApiError::new(Code::ValidationError, "The request could not be processed.");
                e.status = status;
                e
            }
            _ => ApiError::internal(),
        }
    }

    /// The SPEC's error body.
    pub fn body(&self, request_id: &str) -> Value {
        let mut b = json!({
            "error": self.status.canonical_reason().unwrap_or("Error"),
            "message": self.message,
            "code": self.code.as_str(),
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

/// A store failure maps as the use cases map it (`DomainError: From<StoreError>`), in one place.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        DomainError::from(e).into()
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
