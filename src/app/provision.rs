//! Provisioning by the operator (SPEC §1.1): tenants, users and MFA recovery from the command
//! line. The CLI holds no credential: the operator's access to the database file is the
//! authority, so these use cases apply no reach rule; each is audited as the system actor `cli`
//! and bumps the change epoch, so a running server drops its caches within a second.

use crate::store::Db;
use serde_json::json;

use super::{App, AppResult, Invalidation, WriteError};
use crate::domain::error::DomainError;
use crate::domain::ids::{TenantId, UserId};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::{self, tenants, users};

fn cli_event(
    tenant: Option<&str>,
    action: &str,
    target: String,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        tenant_id: tenant.map(str::to_string),
        actor_type: "system".into(),
        actor_id: Some("cli".into()),
        action: action.into(),
        target: Some(target),
        outcome: Outcome::Success,
        details,
        ..Default::default()
    }
}

fn changed(tx: &Db, fx: &mut super::Changes) -> Result<(), WriteError> {
    store::bump_epoch(tx)?;
    fx.invalidate(Invalidation::Everything);
    Ok(())
}

/// `tenant create`.
pub fn create_tenant(app: &App, slug: &str, name: &str) -> AppResult<TenantId> {
    if !tenants::valid_slug(slug) {
        return Err(DomainError::validation(
            "--slug",
            format!("{slug:?} is not a valid slug (lower-case letters, digits and dashes)"),
        ));
    }
    app.write_blocking(|tx, fx| {
        if tenants::find(tx, slug)?.is_some() {
            return Err(DomainError::conflict(format!(
                "a tenant with slug {slug:?} already exists"
            ))
            .into());
        }
        let t = tenants::create(tx, slug, name)?;
        changed(tx, fx)?;
        let ev = cli_event(
            Some(&t.id),
            "tenant.create",
            format!("tenant:{}", t.id),
            json!({"slug": slug}),
        );
        audit::append(tx, &ev)?;
        Ok(TenantId::from_raw(t.id))
    })
}

/// `user create`: a new user with the role in the tenant, or the role added to an existing
/// user's membership (their password kept). `hash` is the new user's password hash, if any.
/// Answers the user's id and whether the user was created now.
pub fn provision_user(
    app: &App,
    email: &str,
    name: &str,
    role: &str,
    tenant: &str,
    hash: Option<&str>,
) -> AppResult<(UserId, bool)> {
    if !users::valid_email(email) {
        return Err(DomainError::validation("--email", "invalid email format"));
    }
    app.write_blocking(|tx, fx| {
        let t = tenants::find(tx, tenant)?
            .ok_or_else(|| DomainError::validation("--tenant", format!("no tenant {tenant:?}")))?;
        let roles = vec![role.to_string()];
        let (user, created) = match users::find_by_email(tx, email)? {
            Some(u) => (u, false),
            None => (users::create(tx, email, name, hash)?, true),
        };
        if users::is_member(tx, &user.id, &t.id)? {
            users::add_roles(tx, &user.id, &t.id, &roles)?;
        } else {
            users::add_membership(tx, &user.id, &t.id, &roles)?;
        }
        changed(tx, fx)?;
        let action = if created {
            "user.create"
        } else {
            "membership.add"
        };
        let details = json!({"email": user.email, "role": role});
        audit::append(
            tx,
            &cli_event(Some(&t.id), action, format!("user:{}", user.id), details),
        )?;
        Ok((UserId::from_raw(user.id), created))
    })
}

/// `user reset-mfa`: removes the second factor and ends every session of the user.
pub fn reset_mfa(app: &App, email: &str) -> AppResult<bool> {
    app.write_blocking(|tx, fx| {
        let u = users::find_by_email(tx, email)?
            .ok_or_else(|| DomainError::validation("--email", "no such user"))?;
        let st = users::mfa_state(tx, &u.id)?;
        let passkeys = store::passkeys::delete_all(tx, &u.id)?;
        if st.secret.is_none() && st.pending.is_none() && passkeys == 0 {
            // Nothing to remove: nothing changes, and no session ends.
            return Ok(false);
        }
        users::clear_mfa(tx, &u.id)?;
        let ended = store::sessions::end_all_for_user(tx, &u.id, None, "mfa_reset")?;
        fx.invalidate(Invalidation::Sessions(ended));
        changed(tx, fx)?;
        let ev = cli_event(
            None,
            "user.mfa_reset",
            format!("user:{}", u.id),
            json!({"email": u.email, "passkeys_removed": passkeys}),
        );
        audit::append(tx, &ev)?;
        Ok(true)
    })
}

/// A store refusal as the CLI reports it.
pub fn message(e: &DomainError) -> String {
    match &e.details {
        Some(d) if !d.is_empty() => format!("{}: {}", d[0].field, d[0].message),
        _ => e.message.clone(),
    }
}
