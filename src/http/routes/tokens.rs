//! Personal access tokens: create (interactive sessions only), list and revoke one's own.

use crate::app::Invalidation;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::user_event;
use crate::domain::error::Code;
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged_all};
use crate::store::audit;
use crate::store::{self, tokens};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// `15d`, `30d`, `90d`, `1y`, `2y` or `never`
    pub expires_in: String,
}

fn lifetime_days(s: &str) -> Result<Option<i64>, ApiError> {
    Ok(match s {
        "15d" => Some(15),
        "30d" => Some(30),
        "90d" => Some(90),
        "1y" => Some(365),
        "2y" => Some(730),
        "never" => None,
        _ => {
            return Err(ApiError::validation(
                "expires_in",
                "must be one of 15d, 30d, 90d, 1y, 2y, never",
            ));
        }
    })
}

pub fn valid_name(field: &str, name: &str) -> Result<String, ApiError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(ApiError::validation(
            field,
            "must be 1-100 printable characters",
        ));
    }
    Ok(n.to_string())
}

/// Create a personal access token; the secret is in this answer only. Needs a login session.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = CreateToken,
    responses((status = 201, description = "created, with the secret"), (status = 403, description = "INTERACTIVE_SESSION_REQUIRED")))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    body: Json<CreateToken>,
) -> Result<HttpResponse, ApiError> {
    let (user, _) = caller.require_interactive()?;
    // Under an MFA policy a token minted by a password-only session would carry capabilities
    // that session itself cannot use.
    if crate::http::auth::tenant_settings(&state, &caller.tenant.id)
        .await?
        .require_mfa
        != crate::domain::settings::RequireMfa::Off
        && !caller.amr.iter().any(|a| a == "otp")
    {
        return Err(ApiError::forbidden(
            Code::MfaRequired,
            "This tenant requires MFA: sign in with a second factor to create tokens.",
        ));
    }
    let name = valid_name("name", &body.0.name)?;
    let expires_at =
        lifetime_days(&body.0.expires_in)?.map(|d| time::now() + chrono::Duration::days(d));
    let (uid, tid) = (user.user_id.clone(), caller.tenant.id.clone());
    // The token keeps the factors of this session: the MFA policy judges it as the session.
    let amr = caller.amr.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "token.create",
        String::new(),
        json!({"name": name, "expires_in": body.0.expires_in}),
    );
    let (info, secret) = store::write(&state.pool, move |tx| {
        let (info, secret) = tokens::create(tx, &uid, &tid, &name, expires_at, &amr)?;
        ev.target = Some(format!("token:{}", info.id));
        audit::append(tx, &ev)?;
        Ok((info, secret))
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({
        "id": info.id, "name": info.name, "token": secret.expose(), "prefix": info.prefix,
        "expires_at": info.expires_at, "created_at": info.created_at,
    })))
}

/// The caller's own tokens in this tenant (never the secrets).
#[utoipa::path(get, path = "/api/tokens", tag = "tokens", params(("page" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "list of the caller's tokens")))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.clone().ok_or_else(not_personal)?;
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| tokens::list(c, &user.user_id, &tid)).await?;
    Ok(paged_all(&req, page, all))
}

fn not_personal() -> ApiError {
    ApiError::forbidden(
        Code::InteractiveSessionRequired,
        "Personal access tokens belong to a signed-in user.",
    )
}

/// Revoke one of the caller's own tokens at once; anyone else's answers 404.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, description = "not the caller's token")))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.clone().ok_or_else(not_personal)?;
    let id = id.into_inner();
    let ev = user_event(
        &caller,
        &meta,
        "token.revoke",
        format!("token:{id}"),
        json!({}),
    );
    let revoked = state
        .app
        .write(move |tx, fx| {
            let h = tokens::revoke(tx, &user.user_id, &id)?;
            if let Some(h) = h {
                audit::append(tx, &ev)?;
                fx.invalidate(Invalidation::Pat(h));
                return Ok(true);
            }
            Ok(false)
        })
        .await?;
    if !revoked {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
