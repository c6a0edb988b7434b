//! Organization API keys (capability `manage_api_keys`): create, list, read, change, delete,
//! reveal (also to users a key is shared with), share and unshare.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::actor;
use crate::app::api_keys as keys_app;
use crate::domain::api_key;
use crate::domain::ids::{KeyId, UserId, display_name};
use crate::http::AppState;
use crate::http::auth::{Caller, ManageApiKeys, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged};
use crate::store::api_keys::{Access, KeyChange};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    pub name: String,
    /// `{"<service>": "read" | "write"}`; services: exercises, noise, platform-status, audit, users, settings
    #[schema(value_type = Object)]
    pub services: BTreeMap<String, Access>,
    pub expires_at: Option<String>,
    pub allowed_subnets: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKey {
    pub name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub services: Option<BTreeMap<String, Access>>,
    pub allowed_subnets: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
    /// refused: a key's expiry can never be changed
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareKey {
    pub user_id: String,
}

/// Create an API key; the secret is in this answer (and can be revealed again later).
#[utoipa::path(post, path = "/api/api-keys", tag = "api-keys", request_body = CreateKey,
    responses((status = 201, description = "created, with `key`"), (status = 403, description = "MISSING_CAPABILITY")))]
pub async fn create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    body: Json<CreateKey>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let new = keys_app::NewKeyInput {
        name: b.name,
        services: b.services,
        expires_at: b.expires_at,
        allowed_subnets: b.allowed_subnets.unwrap_or_default(),
        allowed_origins: b.allowed_origins.unwrap_or_default(),
    };
    let (info, secret) = keys_app::create(&state.app, actor(&caller, &meta), new).await?;
    let mut v = serde_json::to_value(&info).unwrap_or_default();
    v["key"] = json!(secret.expose());
    Ok(HttpResponse::Created().json(v))
}

/// The tenant's API keys (never the secrets).
#[utoipa::path(get, path = "/api/api-keys", tag = "api-keys", params(("page" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "list")))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let a = actor(&caller, &meta);
    let (rows, total) = keys_app::list(&state.app, &a, page.limit, page.offset()).await?;
    Ok(paged(&req, page, total, rows))
}

/// One API key (no secret).
#[utoipa::path(get, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, description = "the key"), (status = 404, description = "no such key in this tenant")))]
pub async fn get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = KeyId::from_raw(id.into_inner());
    let info = keys_app::get(&state.app, &actor(&caller, &meta), key).await?;
    Ok(HttpResponse::Ok().json(info))
}

/// Change name, services, subnets or origins; never the expiry. **Permissions**:
/// `manage_api_keys` and every capability the key grants now and after the change.
#[utoipa::path(patch, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)), request_body = UpdateKey,
    responses((status = 200, description = "the changed key"), (status = 400, description = "e.g. expires_at sent")))]
pub async fn update(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<UpdateKey>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    if b.expires_at.is_some() {
        return Err(ApiError::validation(
            "expires_at",
            "a key's expiry can never be changed",
        ));
    }
    if let Some(s) = &b.services {
        api_key::check_services(caller.usable_caps(), s)?;
    }
    let change = KeyChange {
        name: b
            .name
            .as_deref()
            .map(|n| display_name("name", n))
            .transpose()?,
        services: b.services,
        allowed_subnets: b
            .allowed_subnets
            .as_deref()
            .map(api_key::check_subnets)
            .transpose()?,
        allowed_origins: b
            .allowed_origins
            .as_deref()
            .map(api_key::check_origins)
            .transpose()?,
    };
    let key = KeyId::from_raw(id.into_inner());
    let info = keys_app::update(&state.app, actor(&caller, &meta), key, change).await?;
    Ok(HttpResponse::Ok().json(info))
}

/// Delete a key: it stops working at once. **Permissions**: `manage_api_keys` and every
/// capability the key grants.
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such key")))]
pub async fn delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = KeyId::from_raw(id.into_inner());
    keys_app::delete(&state.app, actor(&caller, &meta), key).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Reveal a key's secret (audited). **Permissions**: `manage_api_keys` and every capability the
/// key grants, or a share of the key.
#[utoipa::path(get, path = "/api/api-keys/{id}/secret", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, description = "`{id, key}`"), (status = 403, description = "MISSING_CAPABILITY"), (status = 404, description = "no such key")))]
pub async fn reveal(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = KeyId::from_raw(id.into_inner());
    let kid = key.to_string();
    let dk = state.data_key.clone();
    let secret = keys_app::reveal(&state.app, actor(&caller, &meta), key, dk).await?;
    Ok(HttpResponse::Ok().json(json!({"id": kid, "key": secret.expose()})))
}

/// Share a key with another member of the tenant, so they can reveal it. **Permissions**:
/// `manage_api_keys` and every capability the key grants.
#[utoipa::path(post, path = "/api/api-keys/{id}/shares", tag = "api-keys", params(("id" = String, Path)), request_body = ShareKey,
    responses((status = 201, description = "shared"), (status = 404, description = "no such key or member")))]
pub async fn share(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<ShareKey>,
) -> Result<HttpResponse, ApiError> {
    let (key, with) = (
        KeyId::from_raw(id.into_inner()),
        UserId::from_raw(body.0.user_id),
    );
    let out = json!({"key_id": key.as_str(), "user_id": with.as_str()});
    keys_app::share(&state.app, actor(&caller, &meta), key, with).await?;
    Ok(HttpResponse::Created().json(out))
}

/// Stop sharing a key with a user (the key itself keeps working). **Permissions**:
/// `manage_api_keys` and every capability the key grants.
#[utoipa::path(delete, path = "/api/api-keys/{id}/shares/{user_id}", tag = "api-keys", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "unshared"), (status = 404, description = "no such share")))]
pub async fn unshare(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, uid) = path.into_inner();
    let (key, with) = (KeyId::from_raw(id), UserId::from_raw(uid));
    keys_app::unshare(&state.app, actor(&caller, &meta), key, with).await?;
    Ok(HttpResponse::NoContent().finish())
}
