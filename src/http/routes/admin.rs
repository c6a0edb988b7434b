//! Tenant administration: custom roles and invitations (`admin.users`), settings
//! (`admin.settings`).

use crate::app::Invalidation;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::user_event;
use crate::app::account::INVITE_PURPOSE;
use crate::app::users::{check_grant, keep_an_admin};
use crate::domain::capability::CapSet;
use crate::domain::error::Code;
use crate::domain::settings::{RequireMfa, Settings};
use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::{AdminSettings, AdminUsers, Require, tenant_settings};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all};
use crate::store::invitations::{self, Invitation};
use crate::store::{self, StoreError, audit, one_time, roles, tenants, users};

const INVITE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 86400);

fn role_name(n: &str) -> Result<String, ApiError> {
    let n = n.trim();
    if n.is_empty()
        || n.len() > 64
        || !n
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    {
        return Err(ApiError::validation(
            "name",
            "1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(n.to_string())
}

fn permissions(p: &[String]) -> Result<CapSet, ApiError> {
    CapSet::parse_names(p)
        .map_err(|bad| ApiError::validation("permissions", format!("unknown capability {bad:?}")))
}

fn builtin_read_only() -> ApiError {
    ApiError::forbidden(
        Code::BuiltinRoleReadOnly,
        "Built-in roles cannot be changed or deleted.",
    )
}

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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| roles::list(c, &tid)).await?;
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
    let name = role_name(
        body.0
            .name
            .as_deref()
            .ok_or_else(|| ApiError::validation("name", "is required"))?,
    )?;
    let caps = permissions(body.0.permissions.as_deref().unwrap_or(&[]))?;
    crate::domain::reach::grant(caller.usable_caps(), caps)?;
    let tid = caller.tenant.id.clone();
    let mut ev = user_event(
        &caller,
        &meta,
        "role.create",
        String::new(),
        json!({"name": name, "permissions": caps.names()}),
    );
    let role = store::write(&state.pool, move |tx| {
        let r = roles::create(tx, &tid, &name, caps)?;
        ev.target = Some(format!("role:{}", r.id));
        audit::append(tx, &ev)?;
        Ok(r)
    })
    .await?;
    Ok(HttpResponse::Created().json(role))
}

/// One role.
#[utoipa::path(get, path = "/api/admin/roles/{id}", tag = "admin", params(("id" = String, Path)), responses((status = 200, description = "the role")))]
pub async fn roles_get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let r = store::run(&state.pool, move |c| roles::get(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
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
    let name = body.0.name.as_deref().map(role_name).transpose()?;
    let caps = body.0.permissions.as_deref().map(permissions).transpose()?;
    let held = caller.usable_caps();
    if let Some(c) = caps {
        crate::domain::reach::grant(held, c)?;
    }
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "role.update",
        format!("role:{id}"),
        json!({"name": name, "permissions": caps.map(|c| c.names())}),
    );
    enum R {
        Builtin,
        Done(roles::Role),
    }
    let r = state
        .app
        .change(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let role = roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?;
            if role.builtin {
                return Ok(R::Builtin);
            }
            // Editing a role (its name included: invitations and requests name roles by name)
            // changes what every holder has: the editor must hold all it held before too.
            let before = CapSet::parse_names(&role.permissions).unwrap_or_default();
            crate::domain::reach::over_member(held, before)?;
            roles::update(tx, &tid, &id, name.as_deref(), caps)?;
            keep_an_admin(tx, &tid)?;
            audit::append(tx, &ev)?;
            Ok(R::Done(
                roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?,
            ))
        })
        .await?;
    match r {
        R::Builtin => Err(builtin_read_only()),
        R::Done(role) => Ok(HttpResponse::Ok().json(role)),
    }
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
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "role.delete",
        format!("role:{id}"),
        json!({}),
    );
    let builtin = state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Principals);
            let role = roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?;
            if role.builtin {
                return Ok(true);
            }
            if roles::in_use(tx, &id)? {
                return Err(StoreError::Conflict(
                    "The role is held by members; take it from them first.".into(),
                ));
            }
            roles::delete(tx, &tid, &id)?;
            audit::append(tx, &ev)?;
            Ok(false)
        })
        .await?;
    if builtin {
        return Err(builtin_read_only());
    }
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
    let InviteBody {
        email,
        roles: role_names,
    } = body.0;
    if !users::valid_email(&email) {
        return Err(ApiError::validation("email", "invalid email format"));
    }
    if role_names.is_empty() {
        return Err(ApiError::validation("roles", "name at least one role"));
    }
    let tid = caller.tenant.id.clone();
    let now = time::now();
    let inv = Invitation {
        id: store::new_id(),
        email: email.trim().to_string(),
        roles: role_names,
        created_by: Some(caller.actor_id.clone()),
        created_at: time::fmt(now),
        expires_at: time::fmt(time::plus(now, INVITE_TTL)),
        status: "pending".into(),
    };
    let ev = user_event(
        &caller,
        &meta,
        "invitation.create",
        format!("invitation:{}", inv.id),
        json!({"email": inv.email, "roles": inv.roles}),
    );
    let i2 = inv.clone();
    let held = caller.usable_caps();
    let token = state
        .app
        .change(move |tx, _| {
            check_grant(tx, &tid, &i2.roles, held)?;
            if let Some(u) = users::find_by_email(tx, &i2.email)?
                && users::is_member(tx, &u.id, &tid)?
            {
                return Err(StoreError::Conflict(
                    "That person is already a member of this tenant.".into(),
                )
                .into());
            }
            let t = one_time::issue(
                tx,
                INVITE_PURPOSE,
                None,
                Some(&tid),
                &json!({"invitation_id": i2.id}),
                INVITE_TTL,
            )?;
            invitations::create(tx, &i2, &tid, &crate::domain::token::hash(t.expose()))?;
            audit::append(tx, &ev)?;
            Ok(t)
        })
        .await?;
    let tid = &caller.tenant.id;
    let mail =
        crate::app::mail::invitation(&state.app, tid, &caller.tenant.name, &inv.email, &token);
    state.app.send(mail);
    Ok(HttpResponse::Created().json(inv))
}

/// The tenant's invitations with their status.
#[utoipa::path(get, path = "/api/admin/invitations", tag = "admin", responses((status = 200, description = "invitations")))]
pub async fn invitations_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let (rows, total) = store::run(&state.pool, move |c| {
        invitations::list(c, &tid, page.limit, page.offset())
    })
    .await?;
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
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "invitation.revoke",
        format!("invitation:{id}"),
        json!({}),
    );
    let ok = store::write(&state.pool, move |tx| {
        let ok = invitations::revoke(tx, &tid, &id)?;
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
    let mut s: Settings = (*tenant_settings(&state, &caller.tenant.id).await?).clone();
    for (k, v) in &patch {
        match k.as_str() {
            "require_mfa" => {
                s.require_mfa = serde_json::from_value::<RequireMfa>(v.clone()).map_err(|_| {
                    ApiError::validation("require_mfa", "must be off, admins or all")
                })?
            }
            "password_min_length" => {
                // A whole number, also when written as `16.0`.
                let n = v
                    .as_u64()
                    .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as u64))
                    .filter(|n| (12..=256).contains(n))
                    .ok_or_else(|| {
                        ApiError::validation(
                            "password_min_length",
                            "must be a whole number from 12 to 256",
                        )
                    })?;
                s.password_min_length = n as u32;
            }
            "features" => {
                let Value::Object(f) = v else {
                    return Err(ApiError::validation("features", "must be an object"));
                };
                for (name, on) in f {
                    let on = on.as_bool().ok_or_else(|| {
                        ApiError::validation(&format!("features.{name}"), "must be true or false")
                    })?;
                    match name.as_str() {
                        "exercises" => s.features.exercises = on,
                        "noise" => s.features.noise = on,
                        "api_keys" => s.features.api_keys = on,
                        _ => {
                            return Err(ApiError::validation(
                                &format!("features.{name}"),
                                "unknown feature (exercises, noise, api_keys)",
                            ));
                        }
                    }
                }
            }
            other => return Err(ApiError::validation(other, "unknown setting")),
        }
    }
    let tid = caller.tenant.id.clone();
    let value = serde_json::to_value(&s).map_err(|_| ApiError::internal())?;
    let ev = user_event(
        &caller,
        &meta,
        "settings.update",
        format!("tenant:{tid}"),
        json!({"changed": patch, "settings": value}),
    );
    let v2 = value.clone();
    let tid_inv = crate::domain::ids::TenantId::from_raw(caller.tenant.id.clone());
    state
        .app
        .write(move |tx, fx| {
            fx.invalidate(Invalidation::Settings(tid_inv));
            tenants::save_settings(tx, &tid, &v2)?;
            audit::append(tx, &ev).map(|_| ())
        })
        .await?;
    Ok(HttpResponse::build(StatusCode::OK).json(value))
}
