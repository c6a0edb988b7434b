//! Per-tenant source-IP allow and block lists (capability `admin.settings`).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use utoipa::ToSchema;

use super::actor;
use crate::app::security::{self, List};
use crate::http::AppState;
use crate::http::auth::{AdminSettings, Caller, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, client_ip, paged_all};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    pub cidr: String,
    pub note: Option<String>,
}

async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    page: Page,
    which: List,
) -> Result<HttpResponse, ApiError> {
    let all = security::entries(&state.app, &actor(&caller, &meta), which).await?;
    Ok(paged_all(&req, page, all))
}

async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    body: NewRule,
    which: List,
) -> Result<HttpResponse, ApiError> {
    let (a, own_ip) = (actor(&caller, &meta), client_ip(&req, &state));
    let rule = security::add(&state.app, a, which, &body.cidr, body.note, own_ip).await?;
    Ok(HttpResponse::Created().json(rule))
}

async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: String,
    which: List,
) -> Result<HttpResponse, ApiError> {
    security::remove(&state.app, actor(&caller, &meta), which, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The allow list: when non-empty, the tenant's credentials work only from these networks.
#[utoipa::path(get, path = "/api/admin/security/ip-allowlist", tag = "admin", responses((status = 200, description = "entries")))]
pub async fn allow_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    list(state, req, c, meta, page, List::Allow).await
}

/// Add an allowed network (409 if it would shut out the caller's own address).
#[utoipa::path(post, path = "/api/admin/security/ip-allowlist", tag = "admin", request_body = NewRule,
    responses((status = 201, description = "added"), (status = 400, description = "invalid CIDR"), (status = 409, description = "would shut out the caller")))]
pub async fn allow_add(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    body: Json<NewRule>,
) -> Result<HttpResponse, ApiError> {
    add(state, req, c, meta, body.0, List::Allow).await
}

/// Remove an allow-list entry.
#[utoipa::path(delete, path = "/api/admin/security/ip-allowlist/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "removed")))]
pub async fn allow_remove(
    state: web::Data<AppState>,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, c, meta, id.into_inner(), List::Allow).await
}

/// The block list: the tenant's credentials are refused from these networks.
#[utoipa::path(get, path = "/api/admin/security/ip-blocklist", tag = "admin", responses((status = 200, description = "entries")))]
pub async fn block_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    list(state, req, c, meta, page, List::Block).await
}

/// Add a blocked network (409 if it would shut out the caller's own address).
#[utoipa::path(post, path = "/api/admin/security/ip-blocklist", tag = "admin", request_body = NewRule,
    responses((status = 201, description = "added"), (status = 400, description = "invalid CIDR"), (status = 409, description = "would shut out the caller")))]
pub async fn block_add(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    body: Json<NewRule>,
) -> Result<HttpResponse, ApiError> {
    add(state, req, c, meta, body.0, List::Block).await
}

/// Remove a block-list entry.
#[utoipa::path(delete, path = "/api/admin/security/ip-blocklist/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "removed")))]
pub async fn block_remove(
    state: web::Data<AppState>,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, c, meta, id.into_inner(), List::Block).await
}

/// Secrets a lab's own scanning pipeline found.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeakReport {
    /// 1 to 1000 strings, each up to 256 characters.
    pub credentials: Vec<String>,
    /// Where they were found (a repository, a paste, a host), up to 500 characters.
    pub source: String,
}

/// What the report found, in the order sent.
#[derive(serde::Serialize, ToSchema)]
pub struct LeakResults {
    pub results: Vec<crate::app::leaks::Finding>,
}

/// Report leaked secrets: the active ones are revoked at once (each audited and announced as
/// `credential.leaked`; the owner of a personal access token is mailed). The answer never
/// carries a secret: its kind, its first 8 characters and its state before this report.
#[utoipa::path(post, path = "/api/admin/security/leaked-credentials", tag = "admin", request_body = LeakReport,
    responses((status = 200, description = "each credential's kind, prefix and state", body = LeakResults)))]
pub async fn leaked(
    state: web::Data<AppState>,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    body: Json<LeakReport>,
) -> Result<HttpResponse, ApiError> {
    let LeakReport {
        credentials,
        source,
    } = body.0;
    if credentials.is_empty() || credentials.len() > 1000 {
        return Err(ApiError::validation(
            "credentials",
            "must hold 1 to 1000 strings",
        ));
    }
    if credentials.iter().any(|s| s.len() > 256) {
        return Err(ApiError::validation(
            "credentials",
            "each must be at most 256 characters",
        ));
    }
    let source = source.trim().to_string();
    if source.is_empty() || source.chars().count() > 500 || source.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "source",
            "must say where they were found (1 to 500 characters)",
        ));
    }
    let results =
        crate::app::leaks::report(&state.app, actor(&c, &meta), credentials, source).await?;
    Ok(HttpResponse::Ok().json(LeakResults { results }))
}
