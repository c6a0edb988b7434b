//! Organization API keys (capability `manage_api_keys`): create, list, read, change, delete,
//! reveal (also to users a key is shared with), share and unshare.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::tokens::valid_name;
use super::user_event;
use crate::domain::capability::Capability;
use crate::domain::{net, time};
use crate::http::AppState;
use crate::http::auth::{Caller, ManageApiKeys, Require, Service};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged};
use crate::store::api_keys::{self, Access, KeyChange, NewKey};
use crate::store::{self, audit, users};

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

/// Services must be known, and the creator may grant only what it could do itself.
fn check_services(caller: &Caller, services: &BTreeMap<String, Access>) -> Result<(), ApiError> {
    if services.is_empty() {
        return Err(ApiError::validation(
            "services",
            "name at least one service",
        ));
    }
    for (name, access) in services {
        let svc = Service::parse(name).ok_or_else(|| {
            ApiError::validation(
                &format!("services.{name}"),
                "unknown service (exercises, noise, platform-status, audit, users, settings)",
            )
        })?;
        if let Some(cap) = svc.needed_to_grant(*access) {
            caller.require(cap).map_err(|_| {
                ApiError::forbidden(
                    "MISSING_CAPABILITY",
                    format!(
                        "Granting {name}:{} requires the capability {}.",
                        if *access == Access::Write {
                            "write"
                        } else {
                            "read"
                        },
                        cap.as_str()
                    ),
                )
            })?;
        }
    }
    Ok(())
}

fn check_subnets(subnets: &[String]) -> Result<Vec<String>, ApiError> {
    subnets
        .iter()
        .map(|s| {
            net::parse_cidr(s).map(|n| n.to_string()).ok_or_else(|| {
                ApiError::validation("allowed_subnets", format!("invalid CIDR {s:?}"))
            })
        })
        .collect()
}

/// An origin is `scheme://host[:port]`, http or https, no path, never a wildcard.
fn check_origins(origins: &[String]) -> Result<Vec<String>, ApiError> {
    origins
        .iter()
        .map(|o| {
            let bad = || {
                ApiError::validation(
                    "allowed_origins",
                    format!("{o:?} is not an origin like https://soc.lab"),
                )
            };
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(bad)?;
            if rest.is_empty()
                || rest.contains(['/', '*', '?', '#', '@', ' '])
                || rest.chars().any(char::is_control)
            {
                return Err(bad());
            }
            Ok(o.to_ascii_lowercase())
        })
        .collect()
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
    let name = valid_name("name", &b.name)?;
    check_services(&caller, &b.services)?;
    let subnets = check_subnets(b.allowed_subnets.as_deref().unwrap_or(&[]))?;
    let origins = check_origins(b.allowed_origins.as_deref().unwrap_or(&[]))?;
    let expires_at = match &b.expires_at {
        None => None,
        Some(s) => {
            let t = time::parse(s)
                .ok_or_else(|| ApiError::validation("expires_at", "must be an RFC 3339 time"))?;
            if t <= time::now() {
                return Err(ApiError::validation("expires_at", "must be in the future"));
            }
            Some(t)
        }
    };
    let tid = caller.tenant.id.clone();
    let creator = caller
        .user
        .as_ref()
        .map(|u| u.user_id.clone())
        .unwrap_or_else(|| caller.actor_id.clone());
    let dk = state.data_key.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "api_key.create",
        String::new(),
        json!({"name": name, "services": b.services}),
    );
    let services = b.services;
    let (info, secret) = store::write(&state.pool, move |tx| {
        let (info, secret) = api_keys::create(
            tx,
            &dk,
            NewKey {
                tenant_id: &tid,
                name: &name,
                services: &services,
                allowed_subnets: &subnets,
                allowed_origins: &origins,
                expires_at,
                created_by: Some(&creator),
            },
        )?;
        ev.target = Some(format!("api_key:{}", info.id));
        audit::append(tx, &ev)?;
        Ok((info, secret))
    })
    .await?;
    state.auth.machine.keys_changed();
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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let (rows, total) = store::run(&state.pool, move |c| {
        api_keys::list(c, &tid, page.limit, page.offset())
    })
    .await?;
    Ok(paged(&req, page, total, rows))
}

/// One API key (no secret).
#[utoipa::path(get, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, description = "the key"), (status = 404, description = "no such key in this tenant")))]
pub async fn get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let info = store::run(&state.pool, move |c| api_keys::get(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(HttpResponse::Ok().json(info))
}

/// Change name, services, subnets or origins; never the expiry.
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
        check_services(&caller, s)?;
    }
    let change = KeyChange {
        name: b
            .name
            .as_deref()
            .map(|n| valid_name("name", n))
            .transpose()?,
        services: b.services,
        allowed_subnets: b
            .allowed_subnets
            .as_deref()
            .map(check_subnets)
            .transpose()?,
        allowed_origins: b
            .allowed_origins
            .as_deref()
            .map(check_origins)
            .transpose()?,
    };
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "api_key.update",
        format!("api_key:{id}"),
        json!({
            "name": change.name, "services": change.services, "allowed_subnets": change.allowed_subnets, "allowed_origins": change.allowed_origins,
        }),
    );
    let info = store::write(&state.pool, move |tx| {
        if !api_keys::update(tx, &tid, &id, &change)? {
            return Ok(None);
        }
        audit::append(tx, &ev)?;
        api_keys::get(tx, &tid, &id)
    })
    .await?
    .ok_or_else(ApiError::not_found)?;
    state.auth.machine.keys_changed();
    Ok(HttpResponse::Ok().json(info))
}

/// Delete a key: it stops working at once.
#[utoipa::path(delete, path = "/api/api-keys/{id}", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 204, description = "deleted"), (status = 404, description = "no such key")))]
pub async fn delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "api_key.delete",
        format!("api_key:{id}"),
        json!({}),
    );
    let done = store::write(&state.pool, move |tx| {
        let d = api_keys::delete(tx, &tid, &id)?;
        if d {
            audit::append(tx, &ev)?;
        }
        Ok(d)
    })
    .await?;
    if !done {
        return Err(ApiError::not_found());
    }
    state.auth.machine.keys_changed();
    Ok(HttpResponse::NoContent().finish())
}

/// Reveal a key's secret (audited): to holders of `manage_api_keys` and users it is shared with.
#[utoipa::path(get, path = "/api/api-keys/{id}/secret", tag = "api-keys", params(("id" = String, Path)),
    responses((status = 200, description = "`{id, key}`"), (status = 403, description = "MISSING_CAPABILITY"), (status = 404, description = "no such key")))]
pub async fn reveal(
    state: web::Data<AppState>,
    caller: Caller,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let may_manage = caller.caps.contains(Capability::ManageApiKeys);
    let user = caller.user.as_ref().map(|u| u.user_id.clone());
    if !may_manage && user.is_none() {
        return Err(ApiError::missing_capability(Capability::ManageApiKeys));
    }
    let dk = state.data_key.clone();
    let ev = user_event(
        &caller,
        &meta,
        "api_key.reveal",
        format!("api_key:{id}"),
        json!({"via": if may_manage { "manage_api_keys" } else { "share" }}),
    );
    enum R {
        Missing,
        Denied,
        Secret(crate::domain::token::Secret),
    }
    let key_id = id.clone();
    let r = store::write(&state.pool, move |tx| {
        if api_keys::get(tx, &tid, &id)?.is_none() {
            return Ok(R::Missing);
        }
        if !may_manage && !api_keys::is_shared_with(tx, &id, user.as_deref().unwrap_or(""))? {
            return Ok(R::Denied);
        }
        let s = api_keys::reveal(tx, &dk, &tid, &id)?.ok_or(store::StoreError::NotFound)?;
        audit::append(tx, &ev)?;
        Ok(R::Secret(s))
    })
    .await?;
    match r {
        R::Missing => Err(ApiError::not_found()),
        R::Denied => Err(ApiError::missing_capability(Capability::ManageApiKeys)),
        R::Secret(s) => Ok(HttpResponse::Ok().json(json!({"id": key_id, "key": s.expose()}))),
    }
}

/// Share a key with another member of the tenant, so they can reveal it.
#[utoipa::path(post, path = "/api/api-keys/{id}/shares", tag = "api-keys", params(("id" = String, Path)), request_body = ShareKey,
    responses((status = 201, description = "shared"), (status = 404, description = "no such key or member")))]
pub async fn share(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    id: web::Path<String>,
    body: Json<ShareKey>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id, uid) = (caller.tenant.id.clone(), id.into_inner(), body.0.user_id);
    let ev = user_event(
        &caller,
        &meta,
        "api_key.share",
        format!("api_key:{id}"),
        json!({"user_id": uid}),
    );
    let (kid, u2) = (id.clone(), uid.clone());
    let ok = store::write(&state.pool, move |tx| {
        if api_keys::get(tx, &tid, &id)?.is_none() || !users::is_member(tx, &uid, &tid)? {
            return Ok(false);
        }
        api_keys::share(tx, &id, &uid)?;
        audit::append(tx, &ev)?;
        Ok(true)
    })
    .await?;
    if !ok {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::Created().json(json!({"key_id": kid, "user_id": u2})))
}

/// Stop sharing a key with a user (the key itself keeps working).
#[utoipa::path(delete, path = "/api/api-keys/{id}/shares/{user_id}", tag = "api-keys", params(("id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204, description = "unshared"), (status = 404, description = "no such share")))]
pub async fn unshare(
    state: web::Data<AppState>,
    Require(caller, ..): Require<ManageApiKeys>,
    meta: Meta,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, uid) = path.into_inner();
    let tid = caller.tenant.id.clone();
    let ev = user_event(
        &caller,
        &meta,
        "api_key.unshare",
        format!("api_key:{id}"),
        json!({"user_id": uid}),
    );
    let ok = store::write(&state.pool, move |tx| {
        if api_keys::get(tx, &tid, &id)?.is_none() || !api_keys::unshare(tx, &id, &uid)? {
            return Ok(false);
        }
        audit::append(tx, &ev)?;
        Ok(true)
    })
    .await?;
    if !ok {
        return Err(ApiError::not_found());
    }
    Ok(HttpResponse::NoContent().finish())
}
