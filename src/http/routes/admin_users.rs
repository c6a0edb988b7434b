//! User administration in the caller's tenant (capability `admin.users`): members, their
//! roles and status, password resets, and the tenant's login sessions.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::account::{RESET_PURPOSE, RESET_TTL, mail_verification};
use super::user_event;
use crate::domain::capability::{CapSet, Capability};
use crate::domain::password;
use crate::http::AppState;
use crate::http::auth::{self, AdminUsers, Caller, Require, tenant_settings};
use crate::http::error::ApiError;
use crate::http::extract::{Json, Meta, Page, paged, paged_all, url_pairs};
use crate::store::{self, StoreError, audit, one_time, sessions, tenants, users};

/// No change may leave a tenant without an active member holding `admin.users`.
pub fn keep_an_admin(tx: &rusqlite::Connection, tenant_id: &str) -> store::StoreResult<()> {
    if users::count_active_user_admins(tx, tenant_id)? == 0 {
        return Err(StoreError::Conflict(
            "This change would leave the tenant without an active member holding admin.users."
                .into(),
        ));
    }
    Ok(())
}

/// A change to what belongs to the user rather than to this membership (name, status, password)
/// reaches every tenant of the user, so the caller must administer users in all of them.
async fn reach_every_tenant(
    state: &web::Data<AppState>,
    caller: &Caller,
    user_id: &str,
) -> Result<(), ApiError> {
    let uid = user_id.to_string();
    let tenants = store::run(&state.pool, move |c| tenants::for_user(c, &uid)).await?;
    for t in tenants.iter().filter(|t| t.id != caller.tenant.id) {
        let ok = match &caller.user {
            Some(me) => auth::load_principal(state, &me.user_id, &t.id)
                .await?
                .is_some_and(|p| p.active() && p.caps.contains(Capability::AdminUsers)),
            None => false,
        };
        if !ok {
            return Err(ApiError::forbidden(
                "TENANT_FORBIDDEN",
                "The user also belongs to a tenant you do not administer; only an admin of all their tenants may do this.",
            ));
        }
    }
    Ok(())
}

/// The caller may hand out only capabilities it holds itself.
pub fn check_grant(
    tx: &rusqlite::Connection,
    tenant_id: &str,
    roles: &[String],
    held: CapSet,
) -> store::StoreResult<()> {
    let granted = users::roles_caps(tx, tenant_id, roles)?;
    if !held.covers(granted) {
        return Err(StoreError::Invalid {
            field: "__forbidden_grant".into(),
            message: "You may only grant roles whose capabilities you hold yourself.".into(),
        });
    }
    Ok(())
}

fn valid_roles(roles: &[String]) -> Result<(), ApiError> {
    if roles.is_empty() {
        return Err(ApiError::validation("roles", "name at least one role"));
    }
    Ok(())
}

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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let pairs = url_pairs(req.query_string());
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let (q, status) = (get("q").filter(|q| !q.is_empty()), get("status"));
    if let Some(s) = &status
        && s != "active"
        && s != "disabled"
    {
        return Err(ApiError::validation("status", "must be active or disabled"));
    }
    let tid = caller.tenant.id.clone();
    let (rows, total) = store::run(&state.pool, move |c| {
        users::members(
            c,
            &tid,
            q.as_deref(),
            status.as_deref(),
            page.limit,
            page.offset(),
        )
    })
    .await?;
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
    let b = body.0;
    if !users::valid_email(&b.email) {
        return Err(ApiError::validation("email", "invalid email format"));
    }
    valid_roles(&b.roles)?;
    if b.name.chars().count() > 200 || b.name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name",
            "must be at most 200 printable characters",
        ));
    }
    let tid = caller.tenant.id.clone();
    let e2 = b.email.clone();
    let exists = store::run(&state.pool, move |c| users::find_by_email(c, &e2))
        .await?
        .is_some();
    let hash = match (&b.password, exists) {
        (Some(pw), false) => {
            let min = tenant_settings(&state, &tid).await?.password_min_length as usize;
            password::check_policy(pw, min).map_err(|m| ApiError::validation("password", m))?;
            Some(state.passwords.hash(pw.clone()).await)
        }
        _ => None,
    };
    let held = caller.caps;
    let mut ev = user_event(
        &caller,
        &meta,
        "user.create",
        String::new(),
        json!({"email": b.email, "roles": b.roles}),
    );
    let (member, verify) = store::write(&state.pool, move |tx| {
        let (user, created) = match users::find_by_email(tx, &b.email)? {
            Some(u) => (u, false),
            None => (
                users::create(tx, &b.email, b.name.trim(), hash.as_deref())?,
                true,
            ),
        };
        check_grant(tx, &tid, &b.roles, held)?;
        users::add_membership(tx, &user.id, &tid, &b.roles)?;
        if !created {
            ev.action = "membership.add".into();
        }
        ev.target = Some(format!("user:{}", user.id));
        audit::append(tx, &ev)?;
        let verify = if created {
            Some(one_time::issue(
                tx,
                super::account::VERIFY_PURPOSE,
                Some(&user.id),
                Some(&tid),
                &json!({}),
                std::time::Duration::from_secs(7 * 86400),
            )?)
        } else {
            None
        };
        Ok((
            users::member(tx, &tid, &user.id)?.ok_or(StoreError::NotFound)?,
            verify,
        ))
    })
    .await?;
    state.auth.principals_changed();
    if let Some(t) = verify {
        mail_verification(&state, &caller.tenant.id, &member.email, t.expose());
    }
    Ok(HttpResponse::Created().json(member))
}

/// One member of this tenant.
#[utoipa::path(get, path = "/api/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 200, description = "the member"), (status = 404, description = "not a member of this tenant")))]
pub async fn get(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let m = store::run(&state.pool, move |c| users::member(c, &tid, &id))
        .await?
        .ok_or_else(ApiError::not_found)?;
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

/// Change a member's name, status or roles in this tenant.
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
    if let Some(s) = &b.status
        && s != "active"
        && s != "disabled"
    {
        return Err(ApiError::validation("status", "must be active or disabled"));
    }
    if let Some(r) = &b.roles {
        valid_roles(r)?;
    }
    if let Some(n) = &b.name
        && (n.chars().count() > 200 || n.chars().any(char::is_control))
    {
        return Err(ApiError::validation(
            "name",
            "must be at most 200 printable characters",
        ));
    }
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    if b.name.is_some() || b.status.is_some() {
        let (t2, i2) = (tid.clone(), id.clone());
        if store::run(&state.pool, move |c| users::member(c, &t2, &i2))
            .await?
            .is_none()
        {
            return Err(ApiError::not_found());
        }
        reach_every_tenant(&state, &caller, &id).await?;
    }
    let held = caller.caps;
    let ev = user_event(
        &caller,
        &meta,
        "user.update",
        format!("user:{id}"),
        json!({"name": b.name, "status": b.status, "roles": b.roles}),
    );
    let (member, ended) = store::write(&state.pool, move |tx| {
        if users::member(tx, &tid, &id)?.is_none() {
            return Err(StoreError::NotFound);
        }
        if let Some(n) = &b.name {
            users::set_name(tx, &id, n.trim())?;
        }
        if let Some(r) = &b.roles {
            check_grant(tx, &tid, r, held)?;
            users::set_roles(tx, &id, &tid, r)?;
        }
        let mut ended = Vec::new();
        if let Some(s) = &b.status {
            users::set_status(tx, &id, s)?;
            if s == "disabled" {
                ended = sessions::end_all_for_user(tx, &id, None, "user_disabled")?;
            }
        }
        // A status change reaches every tenant of the user: none may lose its last admin.
        for t in tenants::for_user(tx, &id)? {
            keep_an_admin(tx, &t.id)?;
        }
        keep_an_admin(tx, &tid)?;
        audit::append(tx, &ev)?;
        Ok((
            users::member(tx, &tid, &id)?.ok_or(StoreError::NotFound)?,
            ended,
        ))
    })
    .await?;
    state.auth.principals_changed();
    state.auth.sessions_ended(&ended);
    Ok(HttpResponse::Ok().json(member))
}

/// Remove a member from this tenant (the user is deleted when this was their last tenant,
/// with their sessions and personal tokens).
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "removed"), (status = 404, description = "not a member"), (status = 409, description = "would leave no active admin")))]
pub async fn delete(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let mut ev = user_event(
        &caller,
        &meta,
        "user.remove",
        format!("user:{id}"),
        json!({}),
    );
    store::write(&state.pool, move |tx| {
        if users::member(tx, &tid, &id)?.is_none() {
            return Err(StoreError::NotFound);
        }
        let deleted = users::remove_from_tenant(tx, &id, &tid)?;
        keep_an_admin(tx, &tid)?;
        ev.details = json!({"user_deleted": deleted});
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await?;
    state.auth.principals_changed();
    state.auth.sessions.clear();
    state.auth.machine.pats.clear();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminReset {
    /// `mail` (default) or `response` to receive the one-time link in the answer
    pub deliver: Option<String>,
}

/// Send a member a password-reset link, or answer it with `{"deliver": "response"}`.
#[utoipa::path(post, path = "/api/admin/users/{id}/reset-password", tag = "admin", params(("id" = String, Path)), request_body = AdminReset,
    responses((status = 200, description = "`{reset_url, expires_at}` when delivered in the response"), (status = 202, description = "mailed")))]
pub async fn reset_password(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
    body: crate::http::extract::OptionalJson<AdminReset>,
) -> Result<HttpResponse, ApiError> {
    let deliver = body
        .0
        .and_then(|b| b.deliver)
        .unwrap_or_else(|| "mail".into());
    if deliver != "mail" && deliver != "response" {
        return Err(ApiError::validation("deliver", "must be mail or response"));
    }
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    if deliver == "response" {
        // The link in the answer opens the whole account, in every tenant it belongs to.
        let (t2, i2) = (tid.clone(), id.clone());
        if store::run(&state.pool, move |c| users::member(c, &t2, &i2))
            .await?
            .is_none()
        {
            return Err(ApiError::not_found());
        }
        reach_every_tenant(&state, &caller, &id).await?;
    }
    let ev = user_event(
        &caller,
        &meta,
        "user.reset_password",
        format!("user:{id}"),
        json!({"deliver": deliver}),
    );
    let (member, token) = store::write(&state.pool, move |tx| {
        let m = users::member(tx, &tid, &id)?.ok_or(StoreError::NotFound)?;
        let t = one_time::issue(
            tx,
            RESET_PURPOSE,
            Some(&id),
            Some(&tid),
            &json!({}),
            RESET_TTL,
        )?;
        audit::append(tx, &ev)?;
        Ok((m, t))
    })
    .await?;
    let link = format!(
        "{}/reset-password#token={}",
        state.config.public_url,
        token.expose()
    );
    let expires_at = crate::domain::time::fmt(crate::domain::time::plus(
        crate::domain::time::now(),
        RESET_TTL,
    ));
    if deliver == "response" {
        return Ok(HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(json!({"reset_url": link, "token": token.expose(), "expires_at": expires_at})));
    }
    let body = format!(
        "An administrator started a password reset for your labgate account.\n\nOpen this link within 30 minutes to choose a new password:\n\n{link}\n"
    );
    super::send_mail(
        &state,
        Some(caller.tenant.id.clone()),
        member.email,
        "labgate password reset",
        body,
        "password_reset",
    );
    Ok(HttpResponse::Accepted().json(json!({"status": "mailed", "expires_at": expires_at})))
}

/// The tenant's open login sessions.
#[utoipa::path(get, path = "/api/admin/sessions", tag = "admin", responses((status = 200, description = "sessions")))]
pub async fn sessions_list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AdminUsers>,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let tid = caller.tenant.id.clone();
    let all = store::run(&state.pool, move |c| sessions::list_open(c, &tid, None)).await?;
    Ok(paged_all(&req, page, all))
}

/// End one of the tenant's login sessions at once.
#[utoipa::path(delete, path = "/api/admin/sessions/{id}", tag = "admin", params(("id" = String, Path)),
    responses((status = 204, description = "ended"), (status = 404, description = "no such open session in this tenant")))]
pub async fn sessions_end(
    state: web::Data<AppState>,
    Require(caller, ..): Require<AdminUsers>,
    meta: Meta,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (tid, id) = (caller.tenant.id.clone(), id.into_inner());
    let ev = user_event(
        &caller,
        &meta,
        "session.revoke",
        format!("session:{id}"),
        json!({}),
    );
    let sid = id.clone();
    let ok = store::write(&state.pool, move |tx| {
        let Some(s) = sessions::get(tx, &id)?.filter(|s| s.tenant_id == tid) else {
            return Ok(false);
        };
        if !sessions::end(tx, &s.id, "revoked_by_admin")? {
            return Ok(false);
        }
        audit::append(tx, &ev)?;
        Ok(true)
    })
    .await?;
    if !ok {
        return Err(ApiError::not_found());
    }
    state.auth.sessions_ended(&[sid]);
    Ok(HttpResponse::NoContent().finish())
}
