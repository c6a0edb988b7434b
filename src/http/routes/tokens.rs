//! Personal access tokens: create (interactive sessions only), list and revoke one's own.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::{actor, me};
use crate::app::tokens;
use crate::domain::error::Code;
use crate::http::AppState;
use crate::http::auth::Caller;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged_all};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    pub name: String,
    /// `15d`, `30d`, `90d`, `1y`, `2y` or `never`
    pub expires_in: String,
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
    let (me, amr) = (me(&caller, &meta)?, caller.amr.clone());
    let CreateToken { name, expires_in } = body.0;
    let (info, secret) = tokens::create(&state.app, me, amr, &name, &expires_in).await?;
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
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let user = caller.user.clone().ok_or_else(not_personal)?;
    let all = tokens::list(&state.app, &actor(&caller, &meta), user.user_id.clone()).await?;
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
    let (a, uid) = (actor(&caller, &meta), user.user_id.clone());
    tokens::revoke(&state.app, a, uid, id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}
