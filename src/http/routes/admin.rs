//! Tenant administration: custom roles and invitations (`admin.users`), settings
//! (`admin.settings`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::actor;
use crate::app::admin::{self, permissions};
use crate::domain::settings::Settings;
use crate::http::AppState;
use crate::http::auth::{AdminSettings, AdminUsers, Require, tenant_settings};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all};
use crate::store::invitations::Invitation;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    pub name: Option<String>,
    pub permissions: Option<Vec<String>>,
}

/// The tenant's roles, built-in and custom.
#[utoipa::path(get, path = "/api/admin/roles", tag = "admin", responses((status = 200, description = "roles", body = [crate::store::roles::Role])))]
pub async fn roles_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all = admin::roles(&state.app, &actor(&caller, &meta)).await?;
    Ok(paged_all(&req, page, all))
}

/// Create a custom role naming only the six capabilities.
#[utoipa::path(post, path = "/api/admin/roles", tag = "admin", request_body = RoleBody,
    responses((status = 201, description = "created"), (status = 409, description = "name taken")))]
pub async fn roles_create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    body: Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let RoleBody {
        name,
        permissions: p,
    } = body.0;
    let name = name.ok_or_else(|| ApiError::validation("name", "is required"))?;
    let caps = permissions(p.as_deref().unwrap_or(&[]))?;
    let role = admin::create_role(&state.app, actor(&caller, &meta), &name, caps).await?;
    Ok(HttpResponse::Created().json(role))
}

/// One role.
#[utoipa::path(get, path = "/api/admin/roles/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "the role")))]
pub async fn roles_get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let r = admin::role(&state.app, &actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(r))
}

/// Change a custom role; effective on every holder's very next request.
#[utoipa::path(put, path = "/api/admin/roles/{id}", tag = "admin", params(("id" = String, Path)), request_body = RoleBody,
    responses((status = 200, description = "changed"), (status = 403, description = "built-in"), (status = 409, description = "name taken or last admin")))]
pub async fn roles_update(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let RoleBody {
        name,
        permissions: p,
    } = body.0;
    let caps = p.as_deref().map(permissions).transpose()?;
    let a = actor(&caller, &meta);
    let role = admin::update_role(&state.app, a, id.into_inner(), name.as_deref(), caps).await?;
    Ok(HttpResponse::Ok().json(role))
}

/// Delete a custom role that nobody holds.
#[utoipa::path(delete, path = "/api/admin/roles/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 403, description = "built-in"), (status = 409, description = "in use")))]
pub async fn roles_delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin::delete_role(&state.app, actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteBody {
    pub email: String,
    pub roles: Vec<String>,
}

/// Invite someone by email: a one-time link valid 7 days is mailed.
#[utoipa::path(post, path = "/api/admin/invitations", tag = "admin", request_body = InviteBody,
    responses((status = 201, description = "invited", body = Invitation), (status = 409, description = "already a member")))]
pub async fn invite(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    body: Json<InviteBody>,
) -> Result<HttpResponse, ApiError> {
    let InviteBody { email, roles } = body.0;
    let (a, tenant) = (actor(&caller, &meta), &caller.tenant.name);
    let inv = admin::invite(&state.app, a, tenant, &email, roles).await?;
    Ok(HttpResponse::Created().json(inv))
}

/// The tenant's invitations with their status.
#[utoipa::path(get, path = "/api/admin/invitations", tag = "admin", responses((status = 200, description = "invitations")))]
pub async fn invitations_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let a = actor(&caller, &meta);
    let (rows, total) = admin::invitations(&state.app, &a, page.limit, page.offset()).await?;
    Ok(paged(&req, page, total, rows))
}

/// Revoke a pending invitation; its link stops working.
#[utoipa::path(delete, path = "/api/admin/invitations/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "revoked"), (status = 404, description = "no pending invitation")))]
pub async fn invitations_revoke(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin::revoke_invitation(&state.app, actor(&caller, &meta), id.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The tenant's settings.
#[utoipa::path(get, path = "/api/admin/settings", tag = "admin", responses((status = 200, description = "settings", body = Settings)))]
pub async fn settings_get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminSettings>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(&*tenant_settings(&state, &caller.tenant.id).await?))
}

/// Change any subset of the settings (`features` merges key by key); answers all of them.
#[utoipa::path(put, path = "/api/admin/settings", tag = "admin", request_body = Object,
    responses((status = 200, description = "settings", body = Settings), (status = 400, description = "invalid value")))]
pub async fn settings_put(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminSettings>,
    meta: Meta,
    body: Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let Value::Object(patch) = body.0 else {
        return Err(ApiError::validation("body", "must be a JSON object"));
    };
    let s: Settings = admin::update_settings(&state.app, actor(&caller, &meta), patch).await?;
    Ok(HttpResponse::Ok().json(s))
}
