//! First-admin bootstrap with the setup token printed at start.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::app::setup::{self, FirstAdmin};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub setup_token: String,
    pub email: String,
    pub password: String,
    pub name: Option<String>,
}

/// Create the first admin (in the `default` tenant); 410 once any user exists.
#[utoipa::path(post, path = "/api/setup", tag = "setup", request_body = SetupRequest,
    responses((status = 201, description = "first admin created"), (status = 401, description = "INVALID_TOKEN"), (status = 410, description = "a user already exists")))]
pub async fn setup(
    state: web::Data<AppState>,
    meta: Meta,
    body: Json<SetupRequest>,
) -> Result<HttpResponse, ApiError> {
    let SetupRequest {
        setup_token,
        email,
        password,
        name,
    } = body.0;
    let new = FirstAdmin {
        setup_token,
        email,
        password,
        name,
    };
    let u = setup::first_admin(&state.app, &meta.origin(), new).await?;
    Ok(HttpResponse::Created().json(json!({
        "id": u.id, "email": u.email, "name": u.name, "status": u.status,
        "email_verified": u.email_verified, "mfa_enabled": u.mfa_enabled,
        "created_at": u.created_at, "roles": ["admin"],
    })))
}
