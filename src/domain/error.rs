//! The error codes of SPEC §2 as one enum, and `DomainError`, the error every rule and use case
//! returns. The HTTP layer renders it (status, body) in one place; the CLI prints its message.
//!
//! A code outside SPEC §2's table is listed here only where the SPEC names a status without a
//! code (405, the 410 of `POST /api/setup`, and two 403s of §3.3 and §4.7), so a client can still
//! tell those answers apart.

use std::fmt;

/// Every `code` an error body can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    ValidationError,
    CredentialInUrl,
    NoCredentials,
    InvalidCredentials,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    MissingCapability,
    ReadOnlyKey,
    SourceIpNotAllowed,
    OriginNotAllowed,
    CsrfFailed,
    MfaRequired,
    ModuleDisabled,
    TenantForbidden,
    InteractiveSessionRequired,
    /// 403 for a change to a built-in role (§3.3 says read-only, 403).
    BuiltinRoleReadOnly,
    /// 403 for a master-key request without a reason in production (§4.7).
    BreakGlassReasonRequired,
    NotFound,
    /// 405 on an existing path.
    MethodNotAllowed,
    Conflict,
    /// 410 for `POST /api/setup` once a user exists.
    SetupComplete,
    PayloadTooLarge,
    UnsupportedMediaType,
    AccountLocked,
    RateLimited,
    Internal,
    DbUnavailable,
}

impl Code {
    pub const ALL: [Code; 28] = [
        Code::ValidationError,
        Code::CredentialInUrl,
        Code::NoCredentials,
        Code::InvalidCredentials,
        Code::InvalidToken,
        Code::TokenExpired,
        Code::TokenRevoked,
        Code::MissingCapability,
        Code::ReadOnlyKey,
        Code::SourceIpNotAllowed,
        Code::OriginNotAllowed,
        Code::CsrfFailed,
        Code::MfaRequired,
        Code::ModuleDisabled,
        Code::TenantForbidden,
        Code::InteractiveSessionRequired,
        Code::BuiltinRoleReadOnly,
        Code::BreakGlassReasonRequired,
        Code::NotFound,
        Code::MethodNotAllowed,
        Code::Conflict,
        Code::SetupComplete,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::AccountLocked,
        Code::RateLimited,
        Code::Internal,
        Code::DbUnavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Code::ValidationError => "VALIDATION_ERROR",
            Code::CredentialInUrl => "CREDENTIAL_IN_URL",
            Code::NoCredentials => "NO_CREDENTIALS",
            Code::InvalidCredentials => "INVALID_CREDENTIALS",
            Code::InvalidToken => "INVALID_TOKEN",
            Code::TokenExpired => "TOKEN_EXPIRED",
            Code::TokenRevoked => "TOKEN_REVOKED",
            Code::MissingCapability => "MISSING_CAPABILITY",
            Code::ReadOnlyKey => "READ_ONLY_KEY",
            Code::SourceIpNotAllowed => "SOURCE_IP_NOT_ALLOWED",
            Code::OriginNotAllowed => "ORIGIN_NOT_ALLOWED",
            Code::CsrfFailed => "CSRF_FAILED",
            Code::MfaRequired => "MFA_REQUIRED",
            Code::ModuleDisabled => "MODULE_DISABLED",
            Code::TenantForbidden => "TENANT_FORBIDDEN",
            Code::InteractiveSessionRequired => "INTERACTIVE_SESSION_REQUIRED",
            Code::BuiltinRoleReadOnly => "BUILTIN_ROLE_READ_ONLY",
            Code::BreakGlassReasonRequired => "BREAK_GLASS_REASON_REQUIRED",
            Code::NotFound => "NOT_FOUND",
            Code::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Code::Conflict => "CONFLICT",
            Code::SetupComplete => "SETUP_COMPLETE",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Code::AccountLocked => "ACCOUNT_LOCKED",
            Code::RateLimited => "RATE_LIMITED",
            Code::Internal => "INTERNAL",
            Code::DbUnavailable => "DB_UNAVAILABLE",
        }
    }

    /// The HTTP status SPEC §2 gives the code.
    pub fn status(self) -> u16 {
        match self {
            Code::ValidationError | Code::CredentialInUrl => 400,
            Code::NoCredentials
            | Code::InvalidCredentials
            | Code::InvalidToken
            | Code::TokenExpired
            | Code::TokenRevoked => 401,
            Code::MissingCapability
            | Code::ReadOnlyKey
            | Code::SourceIpNotAllowed
            | Code::OriginNotAllowed
            | Code::CsrfFailed
            | Code::MfaRequired
            | Code::ModuleDisabled
            | Code::TenantForbidden
            | Code::InteractiveSessionRequired
            | Code::BuiltinRoleReadOnly
            | Code::BreakGlassReasonRequired => 403,
            Code::NotFound => 404,
            Code::MethodNotAllowed => 405,
            Code::Conflict => 409,
            Code::SetupComplete => 410,
            Code::PayloadTooLarge => 413,
            Code::UnsupportedMediaType => 415,
            Code::AccountLocked => 423,
            Code::RateLimited => 429,
            Code::Internal => 500,
            Code::DbUnavailable => 503,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field that failed validation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A refusal or failure, with the code that names it and a message fit for the caller (never an
/// internal cause: those are logged where they happen).
#[derive(Debug, Clone, PartialEq)]
pub struct DomainError {
    pub code: Code,
    pub message: String,
    pub details: Option<Vec<FieldError>>,
    /// Seconds until a locked or limited caller may try again.
    pub retry_after: Option<u64>,
    /// The feature module a `MODULE_DISABLED` refusal is about.
    pub module: Option<&'static str>,
    /// The use case already wrote this refusal's audit record (nobody else writes one).
    pub audited: bool,
}

impl fmt::Display for DomainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for DomainError {}

impl DomainError {
    pub fn new(code: Code, message: impl Into<String>) -> DomainError {
        DomainError {
            code,
            message: message.into(),
            details: None,
            retry_after: None,
            module: None,
            audited: false,
        }
    }

    /// This refusal, marked as audited by the use case that refused.
    pub fn audited(mut self) -> DomainError {
        self.audited = true;
        self
    }

    pub fn validation(field: &str, message: impl Into<String>) -> DomainError {
        let message = message.into();
        let mut e = DomainError::new(Code::ValidationError, format!("{field}: {message}"));
        e.details = Some(vec![FieldError {
            field: field.into(),
            message,
        }]);
        e
    }

    pub fn not_found() -> DomainError {
        DomainError::new(Code::NotFound, "No such resource.")
    }

    pub fn conflict(message: impl Into<String>) -> DomainError {
        DomainError::new(Code::Conflict, message)
    }

    pub fn forbidden(code: Code, message: impl Into<String>) -> DomainError {
        DomainError::new(code, message)
    }

    pub fn internal() -> DomainError {
        DomainError::new(Code::Internal, "An unexpected error occurred.")
    }

    pub fn db_unavailable() -> DomainError {
        DomainError::new(
            Code::DbUnavailable,
            "The database cannot be reached; the request was not carried out.",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_with_a_status() {
        let mut seen = std::collections::HashSet::new();
        for c in Code::ALL {
            assert!(seen.insert(c.as_str()), "{c} listed twice");
            assert!((400..=503).contains(&c.status()));
        }
    }
}
