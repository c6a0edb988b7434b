//! Passkeys (SPEC §16.1): a signed-in person registers, lists and removes their own; anyone
//! may start and finish a passkey sign-in (rate-limited like the password sign-in).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::auth::{LoginAnswer, audited, login_answer};
use super::me;
use crate::app::passkeys::{self, LoginStart};
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, OptionalJson, Page, paged_all};
use crate::store::passkeys::PasskeyInfo;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStart {
    /// what the person calls this passkey ("laptop", "YubiKey 5C")
    pub name: String,
}

/// Start registering a passkey for the signed-in person: the creation options for
/// `PublicKeyCredential.parseCreationOptionsFromJSON` and `navigator.credentials.create`.
#[utoipa::path(post, path = "/api/auth/passkeys/register/start", tag = "passkeys", request_body = RegisterStart,
    responses((status = 200, description = "`{publicKey}`: PublicKeyCredentialCreationOptions, WebAuthn Level 3 JSON"),
              (status = 409, description = "20 passkeys held already, or the public URL names no host")))]
pub async fn register_start(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<RegisterStart>,
) -> Result<HttpResponse, ApiError> {
    let options = passkeys::register_start(&state.app, me(&caller, &meta)?, &body.0.name).await?;
    Ok(HttpResponse::Ok().json(options))
}

/// Finish a registration with the credential's `toJSON()` (RegistrationResponseJSON).
#[utoipa::path(post, path = "/api/auth/passkeys/register/finish", tag = "passkeys",
    request_body(content = Object, description = "RegistrationResponseJSON"),
    responses((status = 201, description = "registered", body = PasskeyInfo),
              (status = 400, description = "not a registration response, or not verified"),
              (status = 409, description = "no registration under way, or the passkey is registered already")))]
pub async fn register_finish(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let info = passkeys::register_finish(&state.app, me(&caller, &meta)?, body.0).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": info.id, "name": info.name, "created_at": info.created_at,
    })))
}

/// The signed-in person's passkeys.
#[utoipa::path(get, path = "/api/auth/passkeys", tag = "passkeys",
    responses((status = 200, description = "the caller's passkeys", body = [PasskeyInfo])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all = passkeys::list(&state.app, me(&caller, &meta)?).await?;
    Ok(paged_all(&req, page, all))
}

/// Remove one of the signed-in person's passkeys.
#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", tag = "passkeys", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "not the caller's passkey")))]
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    passkeys::remove(&state.app, me(&caller, &meta)?, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct LoginStartRequest {
    /// the account's email: the sign-in is bound to it (no credentials are listed)
    pub email: Option<String>,
    /// the `mfa_token` of a password sign-in: the passkey is the second factor
    pub mfa_token: Option<String>,
    /// slug or id of the tenant (default: the user's first)
    pub tenant: Option<String>,
}

/// Start a passkey sign-in: with an email, with the `mfa_token` of the password step, or with
/// neither (a discoverable passkey names its account).
#[utoipa::path(post, path = "/api/auth/passkeys/login/start", tag = "passkeys", security(()),
    request_body(content = LoginStartRequest, description = "may be empty"),
    responses((status = 200, description = "`{publicKey, challenge_id}`: PublicKeyCredentialRequestOptions, WebAuthn Level 3 JSON"),
              (status = 401, description = "mfa_token not valid"),
              (status = 409, description = "no passkey for the mfa_token's account, or the public URL names no host")))]
pub async fn login_start(
    state: web::Data<AppState>,
    body: OptionalJson<LoginStartRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0.unwrap_or_default();
    let c = passkeys::login_start(
        &state.app,
        LoginStart {
            email: b.email,
            mfa_token: b.mfa_token,
            tenant: b.tenant,
        },
    )
    .await?;
    let mut out = c.options;
    out["challenge_id"] = json!(c.challenge_id);
    Ok(HttpResponse::Ok().json(out))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinishRequest {
    pub challenge_id: String,
    /// AuthenticationResponseJSON
    #[schema(value_type = Object)]
    pub credential: Value,
}

/// Finish a passkey sign-in: the login answer of a password sign-in.
#[utoipa::path(post, path = "/api/auth/passkeys/login/finish", tag = "passkeys", security(()),
    request_body = LoginFinishRequest,
    responses((status = 200, description = "signed in", body = LoginAnswer),
              (status = 401, description = "INVALID_CREDENTIALS or INVALID_TOKEN (the challenge)"),
              (status = 423, description = "ACCOUNT_LOCKED")))]
pub async fn login_finish(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<LoginFinishRequest>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let signed = passkeys::login_finish(&state.app, meta.origin(), b.challenge_id, b.credential)
        .await
        .map_err(audited)?;
    Ok(login_answer(&state, &signed))
}
