//! A person's own account: MFA enrollment, password change and reset, their login sessions,
//! their tenants, accepting an invitation and verifying the email address.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::auth::{audited, login_answer};
use super::me;
use crate::app::{account, signin};
use crate::domain::error::Code;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all, url_pairs};

/// Start MFA enrollment: a new secret, pending until confirmed with `/mfa/validate`.
#[utoipa::path(post, path = "/api/auth/mfa/setup", tag = "account",
    responses((status = 200, description = "`{secret, otpauth_url, qr_svg}`"), (status = 409, description = "already enrolled")))]
pub async fn mfa_setup(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let e = account::mfa_setup(&state.app, me(&caller, &meta)?).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"secret": e.secret, "otpauth_url": e.otpauth_url, "qr_svg": e.qr_svg})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaValidate {
    pub code: String,
    /// present for the second step of a sign-in
    pub mfa_token: Option<String>,
}

/// Confirm enrollment (interactive, `{code}` → recovery codes) or complete a sign-in
/// (`{mfa_token, code}` → the login answer).
#[utoipa::path(post, path = "/api/auth/mfa/validate", tag = "account", request_body = MfaValidate,
    responses((status = 200, description = "`{recovery_codes}` or the login answer"), (status = 400, description = "wrong code while enrolling"),
              (status = 401, description = "wrong code or token while signing in")))]
pub async fn mfa_validate(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
    body: Json<MfaValidate>,
) -> Result<HttpResponse, ApiError> {
    let MfaValidate { code, mfa_token } = body.0;
    if let Some(t) = mfa_token {
        let signed = signin::mfa_step(&state.app, meta.origin(), t, code)
            .await
            .map_err(audited)?;
        return Ok(login_answer(&state, &signed));
    }
    let caller = Caller::from_request(&req, &mut Payload::None).await?;
    let codes = account::mfa_confirm(&state.app, me(&caller, &meta)?, code).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"recovery_codes": codes})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryCodes {
    /// a current code of the authenticator app (a recovery code is not taken)
    pub code: String,
}

/// New recovery codes (shown once) in place of the old ones, against a current authenticator
/// code.
#[utoipa::path(post, path = "/api/auth/mfa/recovery-codes", tag = "account", request_body = RecoveryCodes,
    responses((status = 200, description = "`{recovery_codes}`"), (status = 400, description = "wrong or used code"),
              (status = 409, description = "no authenticator set up")))]
pub async fn mfa_recovery_codes(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<RecoveryCodes>,
) -> Result<HttpResponse, ApiError> {
    let codes = account::mfa_recovery_codes(&state.app, me(&caller, &meta)?, body.0.code).await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"recovery_codes": codes})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MfaDisable {
    pub password: String,
    pub code: String,
}

/// Turn MFA off (password and a current code or recovery code).
#[utoipa::path(post, path = "/api/auth/mfa/disable", tag = "account", request_body = MfaDisable,
    responses((status = 204, description = "disabled"), (status = 400, description = "wrong password or code")))]
pub async fn mfa_disable(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<MfaDisable>,
) -> Result<HttpResponse, ApiError> {
    let MfaDisable { password, code } = body.0;
    let me = me(&caller, &meta)?;
    account::mfa_disable(&state.app, &meta.origin(), me, password, code).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

/// Change one's password; every other login session of the user ends.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "account", request_body = ChangePassword,
    responses((status = 204, description = "changed"), (status = 400, description = "wrong current password or weak new one")))]
pub async fn change_password(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<ChangePassword>,
) -> Result<HttpResponse, ApiError> {
    let ChangePassword {
        current_password,
        new_password,
    } = body.0;
    let me = me(&caller, &meta)?;
    account::change_password(&state.app, me, current_password, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForgotPassword {
    pub email: String,
}

/// Mail a one-time reset link valid 30 minutes; always 202 (no user enumeration).
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "account", request_body = ForgotPassword,
    responses((status = 202, description = "accepted, whether or not the email exists")))]
pub async fn forgot_password(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<ForgotPassword>,
) -> Result<HttpResponse, ApiError> {
    account::forgot_password(&state.app, &meta.origin(), body.0.email).await?;
    Ok(HttpResponse::Accepted().json(json!({"status": "accepted"})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetPassword {
    pub token: String,
    pub new_password: String,
}

/// Set a new password with a reset token (single use); every login session of the user ends.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "account", request_body = ResetPassword,
    responses((status = 204, description = "password set"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn reset_password(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<ResetPassword>,
) -> Result<HttpResponse, ApiError> {
    let ResetPassword {
        token,
        new_password,
    } = body.0;
    account::reset_password(&state.app, &meta.origin(), token, new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The caller's own open login sessions in this tenant.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "account", responses((status = 200, description = "sessions, `current` marks this one")))]
pub async fn my_sessions(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let me = me(&caller, &meta)?;
    let all = account::own_sessions(&state.app, &me).await?;
    let total = all.len() as u64;
    let items: Vec<serde_json::Value> = all
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit as usize)
        .map(|s| {
            json!({"id": s.id, "created_at": s.created_at, "last_used_at": s.last_used_at, "ip": s.ip,
                   "user_agent": s.user_agent, "amr": s.amr, "current": s.id == me.session})
        })
        .collect();
    Ok(paged(&req, page, total, items))
}

/// End one of the caller's own login sessions.
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "account", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, description = "not the caller's session")))]
pub async fn end_my_session(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    account::end_own_session(&state.app, me(&caller, &meta)?, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenants the signed-in user belongs to.
#[utoipa::path(get, path = "/api/auth/tenants", tag = "account", responses((status = 200, description = "tenants")))]
pub async fn my_tenants(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.clone().ok_or_else(|| {
        ApiError::forbidden(
            Code::InteractiveSessionRequired,
            "Tenants belong to a signed-in user.",
        )
    })?;
    let all = account::own_tenants(&state.app, user.user_id.clone()).await?;
    Ok(paged_all(&req, page, all))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchTenant {
    pub tenant: String,
}

/// End the current login session and start one in another tenant of the same user.
#[utoipa::path(post, path = "/api/auth/switch-tenant", tag = "account", request_body = SwitchTenant,
    responses((status = 200, description = "the login answer for that tenant"), (status = 403, description = "TENANT_FORBIDDEN")))]
pub async fn switch_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<SwitchTenant>,
) -> Result<HttpResponse, ApiError> {
    let owner = super::auth::session_owner(&caller)?;
    let target = body.0.tenant;
    let signed = signin::switch_tenant(&state.app, meta.origin(), owner, &target)
        .await
        .map_err(audited)?;
    Ok(login_answer(&state, &signed))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    pub token: String,
    pub name: String,
    pub password: String,
}

/// Accept an invitation: creates the account, or adds the membership to an existing one
/// (whose password is kept).
#[utoipa::path(post, path = "/api/auth/invite", tag = "account", request_body = AcceptInvitation,
    responses((status = 201, description = "member created"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn accept_invitation(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<AcceptInvitation>,
) -> Result<HttpResponse, ApiError> {
    let AcceptInvitation {
        token,
        name,
        password,
    } = body.0;
    let origin = meta.origin();
    let member = account::accept_invitation(&state.app, &origin, token, name, password).await?;
    Ok(HttpResponse::Created().json(member))
}

/// Mark the email verified with the token from the verification mail (`?t=lgx_...`).
#[utoipa::path(get, path = "/api/auth/verify-email", tag = "account", params(("t" = String, Query)),
    responses((status = 200, description = "verified"), (status = 401, description = "INVALID_TOKEN or TOKEN_EXPIRED")))]
pub async fn verify_email(
    state: web::Data<AppState>,
    req: HttpRequest,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let t = url_pairs(req.query_string())
        .into_iter()
        .find(|(k, _)| k == "t")
        .map(|(_, v)| v)
        .ok_or_else(|| ApiError::validation("t", "the verification token is missing"))?;
    account::verify_email(&state.app, &meta.origin(), t).await?;
    Ok(HttpResponse::Ok().json(json!({"email_verified": true})))
}
