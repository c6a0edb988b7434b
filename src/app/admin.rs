//! Tenant administration (SPEC §7, §8): custom roles and invitations (`admin.users`) and the
//! tenant's settings (`admin.settings`). Every grant is judged inside the transaction that
//! makes it, against what the actor holds.

use serde_json::json;

use super::{Actor, App, AppResult, Invalidation};
use crate::domain::capability::CapSet;
use crate::domain::error::{Code, DomainError};
use crate::domain::settings::Settings;
use crate::domain::{reach, time};
use crate::store::invitations::{self, Invitation};
use crate::store::roles::{self, Role};
use crate::store::{self, StoreError, audit, one_time, tenants, users};

use super::account::INVITE_PURPOSE;
use super::users::{check_grant, keep_an_admin};

/// How long an invitation's link works (SPEC §8).
pub const INVITE_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 86400);

/// A role name: 1-64 letters, digits, `-`, `_` or `.` (trimmed).
pub fn role_name(n: &str) -> Result<String, DomainError> {
    let n = n.trim();
    let ok = |b: u8| b.is_ascii_alphanumeric() || b"-_.".contains(&b);
    if n.is_empty() || n.len() > 64 || !n.bytes().all(ok) {
        return Err(DomainError::validation(
            "name",
            "1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    Ok(n.to_string())
}

/// A role's permissions: capability names only.
pub fn permissions(p: &[String]) -> Result<CapSet, DomainError> {
    CapSet::parse_names(p).map_err(|bad| {
        DomainError::validation("permissions", format!("unknown capability {bad:?}"))
    })
}

fn builtin_read_only() -> DomainError {
    DomainError::new(
        Code::BuiltinRoleReadOnly,
        "Built-in roles cannot be changed or deleted.",
    )
}

pub async fn roles(app: &App, actor: &Actor) -> AppResult<Vec<Role>> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app.read(move |c| roles::list(c, &tid)).await?)
}

pub async fn role(app: &App, actor: &Actor, id: String) -> AppResult<Role> {
    let tid = actor.tenant.as_str().to_string();
    app.read(move |c| roles::get(c, &tid, &id))
        .await?
        .ok_or_else(DomainError::not_found)
}

/// Creates a custom role; it may grant only what the actor holds.
pub async fn create_role(app: &App, actor: Actor, name: &str, caps: CapSet) -> AppResult<Role> {
    let name = role_name(name)?;
    reach::grant(actor.caps, caps)?;
    let tid = actor.tenant.as_str().to_string();
    let details = json!({"name": name, "permissions": caps.names()});
    let mut ev = actor.event("role.create", String::new(), details);
    app.write(move |tx, _| {
        let r = roles::create(tx, &tid, &name, caps)?;
        ev.target = Some(format!("role:{}", r.id));
        audit::append(tx, &ev)?;
        Ok(r)
    })
    .await
}

/// Changes a custom role, effective on every holder's very next request. Editing a role (its
/// name included: invitations and requests name roles by name) changes what every holder has,
/// so the editor must hold all it grants before and after.
pub async fn update_role(
    app: &App,
    actor: Actor,
    id: String,
    name: Option<&str>,
    caps: Option<CapSet>,
) -> AppResult<Role> {
    let name = name.map(role_name).transpose()?;
    let held = actor.caps;
    if let Some(c) = caps {
        reach::grant(held, c)?;
    }
    let tid = actor.tenant.as_str().to_string();
    let details = json!({"name": name, "permissions": caps.map(|c| c.names())});
    let ev = actor.event("role.update", format!("role:{id}"), details);
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Principals);
        let role = roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?;
        if role.builtin {
            return Err(builtin_read_only().into());
        }
        let before = CapSet::parse_names(&role.permissions).unwrap_or_default();
        reach::over_member(held, before)?;
        roles::update(tx, &tid, &id, name.as_deref(), caps)?;
        keep_an_admin(tx, &tid)?;
        audit::append(tx, &ev)?;
        Ok(roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?)
    })
    .await
}

/// Deletes a custom role that nobody holds.
pub async fn delete_role(app: &App, actor: Actor, id: String) -> AppResult<()> {
    let tid = actor.tenant.as_str().to_string();
    let ev = actor.event("role.delete", format!("role:{id}"), json!({}));
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Principals);
        let role = roles::get(tx, &tid, &id)?.ok_or(StoreError::NotFound)?;
        if role.builtin {
            return Err(builtin_read_only().into());
        }
        if roles::in_use(tx, &id)? {
            let e = DomainError::conflict("The role is held by members; take it from them first.");
            return Err(e.into());
        }
        roles::delete(tx, &tid, &id)?;
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// Invites someone by email into the actor's tenant: a one-time link valid 7 days is mailed.
/// The roles may grant only what the actor holds (judged again when it is accepted).
pub async fn invite(
    app: &App,
    actor: Actor,
    tenant_name: &str,
    email: &str,
    role_names: Vec<String>,
) -> AppResult<Invitation> {
    if !users::valid_email(email) {
        return Err(DomainError::validation("email", "invalid email format"));
    }
    let role_names = super::users::parse_roles(role_names)?;
    let tid = actor.tenant.as_str().to_string();
    let now = app.now();
    let inv = Invitation {
        id: store::new_id(),
        email: email.trim().to_string(),
        roles: role_names,
        created_by: actor.template.actor_id.clone(),
        created_at: time::fmt(now),
        expires_at: time::fmt(time::plus(now, INVITE_TTL)),
        status: "pending".into(),
    };
    let details = json!({"email": inv.email, "roles": inv.roles});
    let ev = actor.event(
        "invitation.create",
        format!("invitation:{}", inv.id),
        details,
    );
    let (i2, held, t2) = (inv.clone(), actor.caps, tid.clone());
    let token = app
        .change(move |tx, _| {
            check_grant(tx, &t2, &i2.roles, held)?;
            if let Some(u) = users::find_by_email(tx, &i2.email)?
                && users::is_member(tx, &u.id, &t2)?
            {
                let e = DomainError::conflict("That person is already a member of this tenant.");
                return Err(e.into());
            }
            let meta = json!({"invitation_id": i2.id});
            let t = one_time::issue(tx, INVITE_PURPOSE, None, Some(&t2), &meta, INVITE_TTL)?;
            invitations::create(tx, &i2, &t2, &crate::domain::token::hash(t.expose()))?;
            audit::append(tx, &ev)?;
            Ok(t)
        })
        .await?;
    let mail = super::mail::invitation(app, &tid, tenant_name, &inv.email, &token);
    app.send(mail);
    Ok(inv)
}

/// A page of the tenant's invitations with their status, and how many there are.
pub async fn invitations(
    app: &App,
    actor: &Actor,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<Invitation>, u64)> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| invitations::list(c, &tid, limit, offset))
        .await?)
}

/// Revokes a pending invitation; its link stops working.
pub async fn revoke_invitation(app: &App, actor: Actor, id: String) -> AppResult<()> {
    let tid = actor.tenant.as_str().to_string();
    let ev = actor.event("invitation.revoke", format!("invitation:{id}"), json!({}));
    app.change(move |tx, _| {
        if !invitations::revoke(tx, &tid, &id)? {
            return Err(DomainError::not_found().into());
        }
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// Changes any subset of the tenant's settings and answers all of them. The patch is applied
/// to the settings as stored, inside the transaction, so two changes of different keys made
/// at once both hold.
pub async fn update_settings(
    app: &App,
    actor: Actor,
    patch: serde_json::Map<String, serde_json::Value>,
) -> AppResult<Settings> {
    // Judged before anything is read, so a bad value is refused alike for every tenant.
    Settings::default().patched(&patch)?;
    let tid = actor.tenant.clone();
    let mut ev = actor.event("settings.update", format!("tenant:{tid}"), json!({}));
    app.change(move |tx, fx| {
        fx.invalidate(Invalidation::Settings(tid.clone()));
        let now = Settings::from_json(&tenants::settings(tx, tid.as_str())?);
        let next = now.patched(&patch)?;
        let value = serde_json::to_value(&next).map_err(|e| StoreError::Other(e.to_string()))?;
        tenants::save_settings(tx, tid.as_str(), &value)?;
        ev.details = json!({"changed": patch, "settings": value});
        audit::append(tx, &ev)?;
        Ok(next)
    })
    .await
}
