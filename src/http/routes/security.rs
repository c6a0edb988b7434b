//! Per-tenant source-IP allow and block lists (capability `admin.settings`).

use crate::app::Invalidation;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::user_event;
use crate::domain::net;
use crate::http::AppState;
use crate::http::auth::{AdminSettings, Caller, IpLists, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, client_ip, paged_all};
use crate::store::{self, StoreError, audit, ip_rules};

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
    page: Page,
    which: &'static str,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| ip_rules::list(c, &tid, which)).await?;
    Ok(paged_all(&req, page, all))
}

async fn add(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    meta: Meta,
    body: NewRule,
    which: &'static str,
) -> Result<HttpResponse, ApiError> {
    let net = net::parse_cidr(&body.cidr)
        .ok_or_else(|| ApiError::validation("cidr", format!("invalid CIDR {:?}", body.cidr)))?;
    let note = body.note.unwrap_or_default();
    if note.chars().count() > 500 || note.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "note",
            "at most 500 printable characters",
        ));
    }
    let own_ip = client_ip(&req, &state);
    let tid = caller.tenant.id.clone();
    let by = caller.actor_id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        &format!("ip_{which}list.add"),
        String::new(),
        json!({"cidr": net.to_string(), "note": note}),
    );
    let tid_inv = crate::domain::ids::TenantId::from_raw(caller.tenant.id.clone());
    let rule = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::IpLists(tid_inv));
            let r = ip_rules::add(tx, &tid, which, &net.to_string(), &note, &by)?;
            // Refuse an entry that would shut the caller out: the check runs on the lists as they
            // would be after the change, inside the same transaction.
            let parse = |rules: Vec<ip_rules::IpRule>| {
                rules
                    .iter()
                    .filter_map(|r| net::parse_cidr(&r.cidr))
                    .collect()
            };
            let lists = IpLists {
                allow: parse(ip_rules::list(tx, &tid, "allow")?),
                block: parse(ip_rules::list(tx, &tid, "block")?),
            };
            if !own_ip.is_some_and(|ip| lists.permits(ip)) {
                return Err(StoreError::Conflict(
                    "This entry would shut out your own address.".into(),
                ));
            }
            ev.target = Some(format!("ip_rule:{}", r.id));
            audit::append(tx, &ev)?;
            Ok(r)
        })
        .await?;
    Ok(HttpResponse::Created().json(rule))
}

async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: String,
    which: &'static str,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let ev = user_event(
        &caller,
        &meta,
        &format!("ip_{which}list.remove"),
        format!("ip_rule:{id}"),
        json!({}),
    );
    let tid_inv = crate::domain::ids::TenantId::from_raw(caller.tenant.id.clone());
    let ok = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::IpLists(tid_inv));
            let ok = ip_rules::remove(tx, &tid, which, &id)?;
            if ok {
                audit::append(tx, &ev)?;
            }
            Ok(ok)
        })
        .await?;
    if !ok {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The allow list: when non-empty, the tenant's credentials work only from these networks.
#[utoipa::path(get, path = "/api/admin/security/ip-allowlist", tag = "admin", responses((status = 200, description = "entries")))]
pub async fn allow_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    list(state, req, c, page, "allow").await
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
    add(state, req, c, meta, body.0, "allow").await
}

/// Remove an allow-list entry.
#[utoipa::path(delete, path = "/api/admin/security/ip-allowlist/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "removed")))]
pub async fn allow_remove(
    state: web::Data<AppState>,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, c, meta, id.into_inner(), "allow").await
}

/// The block list: the tenant's credentials are refused from these networks.
#[utoipa::path(get, path = "/api/admin/security/ip-blocklist", tag = "admin", responses((status = 200, description = "entries")))]
pub async fn block_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(c, ..): Require<AdminSettings>,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    list(state, req, c, page, "block").await
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
    add(state, req, c, meta, body.0, "block").await
}

/// Remove a block-list entry.
#[utoipa::path(delete, path = "/api/admin/security/ip-blocklist/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 204, description = "removed")))]
pub async fn block_remove(
    state: web::Data<AppState>,
    Require(c, ..): Require<AdminSettings>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    remove(state, c, meta, id.into_inner(), "block").await
}
