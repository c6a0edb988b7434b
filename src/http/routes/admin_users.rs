//! User administration in the caller's tenant (capability `admin.users`): members, their
//! roles and status, password resets, and the tenant's login sessions.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::actor;
use crate::app::users as users_app;
use crate::domain::ids::{SessionId, UserId};
use crate::http::AppState;
use crate::http::auth::{AdminUsers, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, filters, paged, paged_all};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub email: String,
    #[serde(default)]
    pub name: String,
    pub password: Option<String>,
    pub roles: Vec<String>,
}

/// Members of this tenant (`?q=` matches email or name, `?status=active|disabled`).
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    params(("q" = Option<String>, Query), ("status" = Option<String>, Query), ("page" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "members", body = [crate::store::users::Member])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let pairs = filters(req.query_string());
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let q = get("q").filter(|q| !q.is_empty());
    let status = get("status")
        .as_deref()
        .map(users_app::Status::parse)
        .transpose()?;
    let (a, limit, offset) = (actor(&caller, &meta), page.limit, page.offset());
    let (rows, total) = users_app::members(&state.app, &a, q, status, limit, offset).await?;
    Ok(paged(&req, page, total, rows))
}

/// Create a user in this tenant, or add a membership to an existing user of another tenant
/// (their password is kept); a member already here is 409.
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, description = "created or added", body = crate::store::users::Member), (status = 409, description = "already a member")))]
pub async fn create(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    body: Json<CreateUser>,
) -> Result<HttpResponse, ApiError> {
    let CreateUser {
        email,
        name,
        password,
        roles,
    } = body.0;
    let new = users_app::NewMember {
        email,
        name,
        password,
        roles,
    };
    let member = users_app::create_member(&state.app, actor(&caller, &meta), new).await?;
    Ok(HttpResponse::Created().json(member))
}

/// One member of this tenant.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "the member"), (status = 404, description = "not a member of this tenant")))]
pub async fn get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::from_raw(id.into_inner());
    let m = users_app::member(&state.app, &actor(&caller, &meta), user).await?;
    Ok(HttpResponse::Ok().json(m))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    pub name: Option<String>,
    /// `active` or `disabled`; disabling ends every credential of the user at once
    pub status: Option<String>,
    pub roles: Option<Vec<String>>,
}

/// Change a member's name, status or roles in this tenant. **Permissions**: `admin.users`, and
/// every capability the member holds (status, roles); name and status are user-wide, so they
/// need `admin.users` in every tenant of the user.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", params(("id" = String, Path)), request_body = UpdateUser,
    responses((status = 200, description = "the changed member"), (status = 409, description = "would leave no active admin")))]
pub async fn update(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<UpdateUser>,
) -> Result<HttpResponse, ApiError> {
    let b = body.0;
    let change = users_app::MemberChange {
        name: b.name.as_deref().map(users_app::parse_name).transpose()?,
        status: b
            .status
            .as_deref()
            .map(users_app::Status::parse)
            .transpose()?,
        roles: b.roles.map(users_app::parse_roles).transpose()?,
    };
    let user = UserId::from_raw(id.into_inner());
    let member = users_app::change_member(&state.app, actor(&caller, &meta), user, change).await?;
    Ok(HttpResponse::Ok().json(member))
}

/// Remove a member from this tenant (the user is deleted when this was their last tenant,
/// with their sessions and personal tokens). **Permissions**: `admin.users` and every
/// capability the member holds.
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "not a member"), (status = 409, description = "would leave no active admin")))]
pub async fn delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let user = UserId::from_raw(id.into_inner());
    users_app::remove_member(&state.app, actor(&caller, &meta), user).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminReset {
    /// `mail` (default) or `response` to receive the one-time link in the answer
    pub deliver: Option<String>,
}

/// Send a member a password-reset link, or answer it with `{"deliver": "response"}`.
/// **Permissions**: `admin.users` and every capability the member holds (in every tenant of
/// theirs when answered).
#[utoipa::path(post, path = "/api/admin/users/{id}/reset-password", tag = "admin", params(("id" = String, Path)), request_body = AdminReset,
    responses((status = 200, description = "`{reset_url, expires_at}` when delivered in the response"), (status = 202, description = "mailed")))]
pub async fn reset_password(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
    body: crate::http::extract::OptionalJson<AdminReset>,
) -> Result<HttpResponse, ApiError> {
    let deliver = users_app::Deliver::parse(body.0.as_ref().and_then(|b| b.deliver.as_deref()))?;
    let user = UserId::from_raw(id.into_inner());
    let r = users_app::reset_password(&state.app, actor(&caller, &meta), user, deliver).await?;
    let expires_at = crate::domain::time::fmt(r.expires_at);
    if deliver == users_app::Deliver::Mail {
        return Ok(
            HttpResponse::Accepted().json(json!({"status": "mailed", "expires_at": expires_at}))
        );
    }
    let link = crate::app::mail::reset_link(&state.app, &r.token);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({"reset_url": link, "token": r.token.expose(), "expires_at": expires_at})))
}

/// The tenant's open login sessions.
#[utoipa::path(get, path = "/api/admin/sessions", tag = "admin", responses((status = 200, description = "sessions")))]
pub async fn sessions_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let all = users_app::tenant_sessions(&state.app, &actor(&caller, &meta)).await?;
    Ok(paged_all(&req, page, all))
}

/// End one of the tenant's login sessions at once. **Permissions**: `admin.users` and every
/// capability the session's user holds.
#[utoipa::path(delete, path = "/api/admin/sessions/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, description = "no such open session in this tenant")))]
pub async fn sessions_end(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = SessionId::from_raw(id.into_inner());
    users_app::end_member_session(&state.app, actor(&caller, &meta), session).await?;
    Ok(HttpResponse::NoContent().finish())
}
